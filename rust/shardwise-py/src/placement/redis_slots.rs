//! `RedisClusterSlots` binding. Slot maps and `CLUSTER SLOTS`/`CLUSTER SHARDS` replies are
//! parsed by `shardwise.placement._redis_reply` (shared with the pure twin).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use shardwise_core::hash::{redis_slot, REDIS_SLOTS};
use shardwise_core::placement::{NodeSet, Placement, RedisClusterSlots};
use shardwise_core::text::quoted;

use super::common::{class_err, param, placement_class, PyPlacement, Shared};
use crate::errors::{Error, Result};

const CLASS: &str = "RedisClusterSlots";
const PARSER: &str = "shardwise.placement._redis_reply";

/// `(start, end, name)` triples as core ranges, naming nodes in first-seen order unless `nodes`
/// fixes the order.
fn core_from_triples(
    triples: Vec<(i64, i64, String)>,
    nodes: Option<NodeSet>,
) -> Result<RedisClusterSlots> {
    let mut set = match nodes {
        Some(n) => n,
        None => {
            let mut set = NodeSet::default();
            for (_, _, name) in &triples {
                if set.index_of(name).is_none() {
                    set.push(name.clone(), 1.0)
                        .map_err(class_err::<RedisClusterSlots>)?;
                }
            }
            set
        }
    };
    let max = i64::from(REDIS_SLOTS) - 1;
    let mut ranges = Vec::with_capacity(triples.len());
    for (start, end, name) in &triples {
        if !(0 <= *start && start <= end && *end <= max) {
            return Err(Error::config(format!(
                "slot range {start}-{end} is invalid: need 0 <= start <= end <= {max}"
            )));
        }
        let owner = set.index_of(name).ok_or_else(|| {
            Error::config(format!(
                "slot range {start}-{end} names node {}, which is not in nodes",
                quoted(name)
            ))
        })?;
        ranges.push((*start as u32, *end as u32, owner));
    }
    set = std::mem::take(&mut set);
    RedisClusterSlots::new(set, &ranges).map_err(class_err::<RedisClusterSlots>)
}

fn parse<'py>(
    py: Python<'py>,
    function: &str,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> PyResult<Vec<(i64, i64, String)>> {
    py.import(PARSER)?.getattr(function)?.call1(args)?.extract()
}

impl PyPlacement for RedisClusterSlots {
    const CLASS: &'static str = CLASS;

    fn params<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let runs = PyList::empty(py);
        for (start, end, owner) in self.slot_map().ranges() {
            runs.append(PyList::new(
                py,
                [
                    start.into_pyobject(py)?.into_any(),
                    end.into_pyobject(py)?.into_any(),
                    PyString::new(py, self.nodes().name(owner)).into_any(),
                ],
            )?)?;
        }
        d.set_item("slots", runs)?;
        Ok(d)
    }

    fn from_params(nodes: NodeSet, params: &Bound<'_, PyDict>) -> Result<Self> {
        let py = params.py();
        let Some(slots) = param(params, "slots")? else {
            return Err(Error::config(
                "invalid RedisClusterSlots state: needs 'slots'",
            ));
        };
        let triples = parse(py, "parse_slot_map", (slots,))?;
        core_from_triples(triples, Some(nodes))
    }
}

/// Redis Cluster placement: key → hash slot (``shardwise.hashing.redis_slot``) → node.
///
/// ``RedisClusterSlots(slots)``: ``slots`` is a mapping ``node -> [(start, end), ...]`` or an
/// iterable of ``(start, end, node)`` triples, inclusive; every slot 0..16383 must be covered
/// exactly once (gaps and overlaps raise ``ConfigurationError``) and every node must own a slot.
/// ``from_cluster_slots(reply)`` / ``from_cluster_shards(reply)`` build one from a live cluster's
/// ``CLUSTER SLOTS`` / ``CLUSTER SHARDS`` reply as redis-py returns it, naming each master
/// ``"host:port"`` (``default_host`` replaces an empty host).
/// Keys follow the shardwise key contract, as ``redis_slot`` does: str is UTF-8, and an *int* key
/// is its 8 little-endian bytes — redis-py sends the int ``5`` as ``b"5"``, so pass ``str(key)``
/// to match where Redis stores it. ``get_nodes(key, n)``: the slot's owner, then the owners of the
/// following slots, wrapping. The slot map is fixed: ``add_node``/``remove_node``/``set_weight``
/// raise ``ConfigurationError`` (rebuild from the cluster's new reply instead).
#[pyclass(frozen, module = "shardwise._core", name = "RedisClusterSlots")]
pub struct PyRedisClusterSlots {
    inner: Shared<RedisClusterSlots>,
}

placement_class!(PyRedisClusterSlots {
    #[new]
    fn new(py: Python<'_>, slots: &Bound<'_, PyAny>) -> PyResult<Self> {
        let triples = parse(py, "parse_slot_map", (slots,))?;
        Ok(PyRedisClusterSlots { inner: Shared::new(py, core_from_triples(triples, None)?) })
    }

    /// From a ``CLUSTER SLOTS`` reply (masters named ``host:port``, in slot order).
    #[staticmethod]
    #[pyo3(signature = (reply, default_host = None))]
    fn from_cluster_slots(py: Python<'_>, reply: &Bound<'_, PyAny>, default_host: Option<String>) -> PyResult<Self> {
        let triples = parse(py, "parse_cluster_slots", (reply, default_host))?;
        Ok(PyRedisClusterSlots { inner: Shared::new(py, core_from_triples(triples, None)?) })
    }

    /// From a ``CLUSTER SHARDS`` reply (each shard's master named ``host:port``, in slot order).
    #[staticmethod]
    #[pyo3(signature = (reply, default_host = None))]
    fn from_cluster_shards(py: Python<'_>, reply: &Bound<'_, PyAny>, default_host: Option<String>) -> PyResult<Self> {
        let triples = parse(py, "parse_cluster_shards", (reply, default_host))?;
        Ok(PyRedisClusterSlots { inner: Shared::new(py, core_from_triples(triples, None)?) })
    }

    /// Inclusive ``(start, end, node)`` runs in slot order.
    #[getter]
    fn slot_ranges(&self) -> Vec<(u32, u32, String)> {
        let core = self.inner.core();
        core.slot_map()
            .ranges()
            .into_iter()
            .map(|(s, e, o)| (s, e, core.nodes().name(o).to_owned()))
            .collect()
    }

    /// The node serving ``slot`` (0..16383).
    fn node_for_slot(&self, slot: i64) -> Result<String> {
        if !(0..i64::from(REDIS_SLOTS)).contains(&slot) {
            return Err(Error::config(format!("slot must be an int in [0, 16383], got {slot}")));
        }
        let core = self.inner.core();
        Ok(core.nodes().name(core.slot_map().owner_of_slot(slot as u16)).to_owned())
    }

    /// The slot of ``key`` (same as ``shardwise.hashing.redis_slot``).
    #[staticmethod]
    fn slot_of(key: &Bound<'_, PyAny>) -> PyResult<u16> {
        crate::keys::with_key(key, redis_slot)
    }
});
