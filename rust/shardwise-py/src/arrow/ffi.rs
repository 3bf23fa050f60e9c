//! The three structs of Arrow's C data and stream interfaces, owned and released as the
//! interface prescribes, and taken out of the PyCapsules that carry them.

use std::ffi::{c_char, c_int, c_void, CStr};

use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::errors::{Error, Result};

/// `struct ArrowSchema` of the C data interface.
#[repr(C)]
pub struct FfiSchema {
    pub format: *const c_char,
    pub name: *const c_char,
    pub metadata: *const c_char,
    pub flags: i64,
    pub n_children: i64,
    pub children: *mut *mut FfiSchema,
    pub dictionary: *mut FfiSchema,
    pub release: Option<unsafe extern "C" fn(*mut FfiSchema)>,
    pub private_data: *mut c_void,
}

/// `struct ArrowArray` of the C data interface.
#[repr(C)]
pub struct FfiArray {
    pub length: i64,
    pub null_count: i64,
    pub offset: i64,
    pub n_buffers: i64,
    pub n_children: i64,
    pub buffers: *mut *const c_void,
    pub children: *mut *mut FfiArray,
    pub dictionary: *mut FfiArray,
    pub release: Option<unsafe extern "C" fn(*mut FfiArray)>,
    pub private_data: *mut c_void,
}

/// `struct ArrowArrayStream` of the C stream interface.
#[repr(C)]
pub struct FfiStream {
    pub get_schema: Option<unsafe extern "C" fn(*mut FfiStream, *mut FfiSchema) -> c_int>,
    pub get_next: Option<unsafe extern "C" fn(*mut FfiStream, *mut FfiArray) -> c_int>,
    pub get_last_error: Option<unsafe extern "C" fn(*mut FfiStream) -> *const c_char>,
    pub release: Option<unsafe extern "C" fn(*mut FfiStream)>,
    pub private_data: *mut c_void,
}

/// A C-interface struct this module owns: released (its producer's memory freed) on drop.
pub struct Owned<T: Release>(pub Box<T>);

pub trait Release {
    fn released() -> Self;
    fn is_released(&self) -> bool;
    /// # Safety
    /// `this` is a live struct whose release callback has not been called.
    unsafe fn release(this: *mut Self);
}

macro_rules! release {
    ($t:ty) => {
        impl Release for $t {
            fn released() -> Self {
                // SAFETY: all-zero is a valid released struct (null pointers, `release: None`).
                unsafe { std::mem::zeroed() }
            }
            fn is_released(&self) -> bool {
                self.release.is_none()
            }
            unsafe fn release(this: *mut Self) {
                if let Some(release) = (*this).release {
                    release(this);
                }
            }
        }
    };
}
release!(FfiSchema);
release!(FfiArray);
release!(FfiStream);

impl<T: Release> Owned<T> {
    pub fn empty() -> Self {
        Owned(Box::new(T::released()))
    }

    pub fn ptr(&mut self) -> *mut T {
        &mut *self.0
    }
}

impl<T: Release> Drop for Owned<T> {
    fn drop(&mut self) {
        if !self.0.is_released() {
            // SAFETY: we own the struct and have not released it.
            unsafe { T::release(&mut *self.0) };
        }
    }
}

/// Move the struct out of a PyCapsule named `name` (the capsule is left released, as the
/// PyCapsule interface prescribes for a consumer that takes ownership).
pub fn take<T: Release>(capsule: &Bound<'_, PyAny>, name: &CStr) -> Result<Owned<T>> {
    let capsule = capsule.cast::<PyCapsule>().map_err(|_| {
        Error::type_error(format!(
            "the Arrow export did not return a {:?} capsule",
            name
        ))
    })?;
    let ptr = capsule.pointer_checked(Some(name))?.as_ptr().cast::<T>();
    // SAFETY: a capsule named `name` holds a `T` (the interface's contract); reading it moves
    // it out, and overwriting the original with a released struct stops the capsule's
    // destructor from releasing what we now own.
    let moved = unsafe {
        let moved = std::ptr::read(ptr);
        std::ptr::write(ptr, T::released());
        moved
    };
    if moved.is_released() {
        return Err(Error::value_error(format!(
            "the Arrow {:?} capsule was already consumed",
            name
        )));
    }
    Ok(Owned(Box::new(moved)))
}

/// The stream's last error message, if it gives one.
fn stream_error(stream: &mut Owned<FfiStream>, code: c_int) -> Error {
    let text = stream.0.get_last_error.and_then(|f| {
        // SAFETY: a live stream's get_last_error returns null or a NUL-terminated string
        // valid until the next call on the stream.
        let p = unsafe { f(stream.ptr()) };
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    });
    Error::value_error(format!(
        "reading the Arrow stream failed: {}",
        text.unwrap_or_else(|| format!("error code {code}"))
    ))
}

/// Everything a stream holds: its schema and every array, in order.
pub fn drain(stream: &mut Owned<FfiStream>) -> Result<(Owned<FfiSchema>, Vec<Owned<FfiArray>>)> {
    let (Some(get_schema), Some(get_next)) = (stream.0.get_schema, stream.0.get_next) else {
        return Err(shardwise_core::Error::Malformed("stream without callbacks".into()).into());
    };
    let mut schema = Owned::<FfiSchema>::empty();
    // SAFETY: a live stream and a struct to fill, as the stream interface requires.
    let code = unsafe { get_schema(stream.ptr(), schema.ptr()) };
    if code != 0 {
        return Err(stream_error(stream, code));
    }
    if schema.0.is_released() {
        return Err(
            shardwise_core::Error::Malformed("the stream gave a released schema".into()).into(),
        );
    }
    let mut arrays = Vec::new();
    loop {
        let mut array = Owned::<FfiArray>::empty();
        // SAFETY: as above; a released array back marks the end of the stream.
        let code = unsafe { get_next(stream.ptr(), array.ptr()) };
        if code != 0 {
            return Err(stream_error(stream, code));
        }
        if array.0.is_released() {
            break;
        }
        arrays.push(array);
    }
    Ok((schema, arrays))
}
