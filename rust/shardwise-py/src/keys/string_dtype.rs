//! numpy's variable-width `StringDType` arrays (kind `T`) read through numpy's own C API (numpy 2
//! exports `NpyString_load` and the allocator lock in its API table, which the abi3 build reaches
//! like every other numpy function): each string is copied once into packed keys, with no Python
//! object per key (`tolist()` made one: ~10x slower, see BENCHMARKS.md).

use std::ffi::{c_char, c_int, c_void};

use numpy::npyffi;
use numpy::{PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCapsule;
use shardwise_core::keys::PackedKeys;

use crate::errors::{Error, Result};

/// `npy_static_string`: a view of one unpacked string.
#[repr(C)]
struct StaticString {
    size: usize,
    buf: *const c_char,
}

type Load = unsafe extern "C" fn(*mut c_void, *const c_void, *mut StaticString) -> c_int;
type Acquire = unsafe extern "C" fn(*const c_void) -> *mut c_void;
type ReleaseAllocator = unsafe extern "C" fn(*mut c_void);

/// Slots of numpy's C API table (`__multiarray_api.h`, numpy 2.0 and later).
const LOAD: usize = 313;
const ACQUIRE_ALLOCATOR: usize = 316;
const RELEASE_ALLOCATOR: usize = 318;

/// The numpy 2 C API table (`numpy._core._multiarray_umath._ARRAY_API`).
struct Table(*const *const c_void);

// SAFETY: the table is immutable static data of the numpy module, which is never unloaded.
unsafe impl Send for Table {}
unsafe impl Sync for Table {}

static TABLE: PyOnceLock<Table> = PyOnceLock::new();

fn table(py: Python<'_>) -> Result<&Table> {
    Ok(TABLE.get_or_try_init(py, || -> PyResult<Table> {
        let capsule = py
            .import("numpy._core._multiarray_umath")?
            .getattr("_ARRAY_API")?;
        let capsule = capsule.cast::<PyCapsule>()?;
        Ok(Table(capsule.pointer_checked(None)?.as_ptr().cast()))
    })?)
}

/// The string allocator of a StringDType descriptor, held (locked) until dropped.
struct Allocator {
    ptr: *mut c_void,
    release: ReleaseAllocator,
}

impl Drop for Allocator {
    fn drop(&mut self) {
        // SAFETY: `ptr` was acquired from this table and is released once.
        unsafe { (self.release)(self.ptr) }
    }
}

/// The keys of a 1-D StringDType array, or `None` when it holds a missing value (then read
/// through `tolist()`, which names it as any other non-string key).
pub fn string_keys(arr: &Bound<'_, PyUntypedArray>) -> Result<Option<PackedKeys>> {
    let t = table(arr.py())?;
    // SAFETY: `arr` is a live 1-D numpy array of a StringDType (kind 'T', which exists from
    // numpy 2.0, whose API table has these slots with these signatures); its fields are read
    // with the GIL held.
    unsafe {
        let load: Load = std::mem::transmute(*t.0.add(LOAD));
        let acquire: Acquire = std::mem::transmute(*t.0.add(ACQUIRE_ALLOCATOR));
        let release: ReleaseAllocator = std::mem::transmute(*t.0.add(RELEASE_ALLOCATOR));
        let fields = npyffi::_PyArray_GET_ITEM_DATA(arr.as_array_ptr());
        let (data, stride, descr) = ((*fields).data, *(*fields).strides, (*fields).descr);
        let n = arr.len();
        let allocator = Allocator {
            ptr: acquire(descr.cast()),
            release,
        };
        let mut packed = PackedKeys::try_with_capacity(n, 16)?;
        let mut item = StaticString {
            size: 0,
            buf: std::ptr::null(),
        };
        for i in 0..n {
            let packed_string = data.offset(i as isize * stride).cast::<c_void>();
            match load(allocator.ptr, packed_string, &mut item) {
                0 => {}
                1 => return Ok(None), // a missing value (the dtype's na_object)
                _ => {
                    return Err(Error::value_error(format!(
                        "numpy could not read the string keys[{i}]"
                    )))
                }
            }
            let bytes = if item.size == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(item.buf.cast::<u8>(), item.size)
            };
            packed.try_push(bytes)?;
        }
        Ok(Some(packed))
    }
}
