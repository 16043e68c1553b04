//! The boundary's machinery: result structs, status codes, buffers, input checks, panic capture.

use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

/// The call succeeded; the result's value fields are set.
pub const OZKCP_OK: i32 = 0;
/// An argument is unusable: null pointer, bad length, malformed encoding, out of range.
pub const OZKCP_ERR_INVALID_INPUT: i32 = 1;
/// The inputs are well formed but the check failed (signature, proof, voucher, lock, transition).
pub const OZKCP_ERR_REJECTED: i32 = 2;
/// The handle is null, destroyed, or of another type than the call needs.
pub const OZKCP_ERR_BAD_HANDLE: i32 = 3;
/// A panic inside the library was caught; the message says where.
pub const OZKCP_ERR_PANIC: i32 = 4;
/// `ozkcp_client_open_interval`: the revealed key does not open the interval's lock.
pub const OZKCP_ERR_WRONG_KEY: i32 = 5;
/// `ozkcp_client_open_interval`: a chunk decrypts to bytes contradicting its statement; the
/// value holds the chunk index as 8 bytes little-endian.
pub const OZKCP_ERR_BAD_CHUNK: i32 = 6;

/// An error crossing the boundary: a status code and a message.
#[derive(Debug)]
pub struct FfiError {
    pub(crate) code: i32,
    pub(crate) msg: String,
    /// Extra bytes for the value field (only `OZKCP_ERR_BAD_CHUNK` uses it).
    pub(crate) value: Vec<u8>,
}

impl FfiError {
    pub(crate) fn new(code: i32, msg: impl Into<String>) -> Self {
        FfiError {
            code,
            msg: msg.into(),
            value: Vec::new(),
        }
    }
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Self::new(OZKCP_ERR_INVALID_INPUT, msg)
    }
    pub(crate) fn rejected(msg: impl Into<String>) -> Self {
        Self::new(OZKCP_ERR_REJECTED, msg)
    }
}

/// Result of a calls that only succeeds or fails.
#[repr(C)]
pub struct OzkcpStatusResult {
    /// `OZKCP_OK` or an error code.
    pub status_code: i32,
    /// NUL-terminated message when `status_code != OZKCP_OK`, else null.
    pub error_msg: *const c_char,
}

/// Result of a call that returns one buffer.
#[repr(C)]
pub struct OzkcpBytesResult {
    /// `OZKCP_OK` or an error code.
    pub status_code: i32,
    /// NUL-terminated message when `status_code != OZKCP_OK`, else null.
    pub error_msg: *const c_char,
    /// The value (owned by this result; null when empty).
    pub value_ptr: *const u8,
    /// Its length in bytes.
    pub value_len: usize,
}

/// Result of a call that returns two buffers.
#[repr(C)]
pub struct OzkcpPairResult {
    /// `OZKCP_OK` or an error code.
    pub status_code: i32,
    /// NUL-terminated message when `status_code != OZKCP_OK`, else null.
    pub error_msg: *const c_char,
    /// The first value (owned by this result; null when empty).
    pub first_ptr: *const u8,
    /// Its length in bytes.
    pub first_len: usize,
    /// The second value (owned by this result; null when empty).
    pub second_ptr: *const u8,
    /// Its length in bytes.
    pub second_len: usize,
}

/// Result of a call that creates a handle.
#[repr(C)]
pub struct OzkcpHandleResult {
    /// `OZKCP_OK` or an error code.
    pub status_code: i32,
    /// NUL-terminated message when `status_code != OZKCP_OK`, else null.
    pub error_msg: *const c_char,
    /// The new handle (null on error); release it with `ozkcp_handle_destroy`, not with the
    /// result.
    pub handle: *mut crate::handle::OzkcpHandle,
}

fn c_message(msg: &str) -> *const c_char {
    let clean: Vec<u8> = msg.bytes().map(|b| if b == 0 { b'?' } else { b }).collect();
    CString::new(clean)
        .expect("no interior NUL left")
        .into_raw()
}

fn leak_buf(v: Vec<u8>) -> (*const u8, usize) {
    if v.is_empty() {
        return (ptr::null(), 0);
    }
    let len = v.len();
    (Box::into_raw(v.into_boxed_slice()) as *const u8, len)
}

unsafe fn free_buf(ptr: *const u8, len: usize) {
    if !ptr.is_null() {
        drop(Box::from_raw(ptr::slice_from_raw_parts_mut(
            ptr as *mut u8,
            len,
        )));
    }
}

unsafe fn free_msg(msg: *const c_char) {
    if !msg.is_null() {
        drop(CString::from_raw(msg as *mut c_char));
    }
}

/// A result struct built from a call's outcome.
pub(crate) trait Outcome: Sized {
    type Value;
    fn ok(v: Self::Value) -> Self;
    fn err(e: FfiError) -> Self;
}

impl Outcome for OzkcpStatusResult {
    type Value = ();
    fn ok(_: ()) -> Self {
        OzkcpStatusResult {
            status_code: OZKCP_OK,
            error_msg: ptr::null(),
        }
    }
    fn err(e: FfiError) -> Self {
        OzkcpStatusResult {
            status_code: e.code,
            error_msg: c_message(&e.msg),
        }
    }
}

impl Outcome for OzkcpBytesResult {
    type Value = Vec<u8>;
    fn ok(v: Vec<u8>) -> Self {
        let (value_ptr, value_len) = leak_buf(v);
        OzkcpBytesResult {
            status_code: OZKCP_OK,
            error_msg: ptr::null(),
            value_ptr,
            value_len,
        }
    }
    fn err(e: FfiError) -> Self {
        let (value_ptr, value_len) = leak_buf(e.value);
        OzkcpBytesResult {
            status_code: e.code,
            error_msg: c_message(&e.msg),
            value_ptr,
            value_len,
        }
    }
}

impl Outcome for OzkcpPairResult {
    type Value = (Vec<u8>, Vec<u8>);
    fn ok((a, b): (Vec<u8>, Vec<u8>)) -> Self {
        let (first_ptr, first_len) = leak_buf(a);
        let (second_ptr, second_len) = leak_buf(b);
        OzkcpPairResult {
            status_code: OZKCP_OK,
            error_msg: ptr::null(),
            first_ptr,
            first_len,
            second_ptr,
            second_len,
        }
    }
    fn err(e: FfiError) -> Self {
        let (first_ptr, first_len) = leak_buf(e.value);
        OzkcpPairResult {
            status_code: e.code,
            error_msg: c_message(&e.msg),
            first_ptr,
            first_len,
            second_ptr: ptr::null(),
            second_len: 0,
        }
    }
}

impl Outcome for OzkcpHandleResult {
    type Value = *mut crate::handle::OzkcpHandle;
    fn ok(handle: Self::Value) -> Self {
        OzkcpHandleResult {
            status_code: OZKCP_OK,
            error_msg: ptr::null(),
            handle,
        }
    }
    fn err(e: FfiError) -> Self {
        OzkcpHandleResult {
            status_code: e.code,
            error_msg: c_message(&e.msg),
            handle: ptr::null_mut(),
        }
    }
}

/// Runs `f`, turning its error or panic into a boxed result struct for the caller.
pub(crate) fn call<R: Outcome>(f: impl FnOnce() -> Result<R::Value, FfiError>) -> *mut R {
    let r = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => R::ok(v),
        Ok(Err(e)) => R::err(e),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            R::err(FfiError::new(
                OZKCP_ERR_PANIC,
                format!("panic in ozkcp: {what}"),
            ))
        }
    };
    Box::into_raw(Box::new(r))
}

/// Reads `len` bytes at `ptr`; `(null, 0)` is the empty slice, `(null, n > 0)` an error.
pub(crate) unsafe fn bytes<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a [u8], FfiError> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(FfiError::invalid(format!(
            "{what}: null pointer with length {len}"
        )));
    }
    if len > isize::MAX as usize {
        return Err(FfiError::invalid(format!(
            "{what}: length {len} is too large"
        )));
    }
    Ok(std::slice::from_raw_parts(ptr, len))
}

/// Reads exactly 32 bytes.
pub(crate) unsafe fn bytes32(ptr: *const u8, len: usize, what: &str) -> Result<[u8; 32], FfiError> {
    let b = bytes(ptr, len, what)?;
    b.try_into()
        .map_err(|_| FfiError::invalid(format!("{what}: {len} bytes, expected 32")))
}

/// Reads a UTF-8 string given as bytes.
pub(crate) unsafe fn text<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a str, FfiError> {
    std::str::from_utf8(bytes(ptr, len, what)?)
        .map_err(|_| FfiError::invalid(format!("{what}: not UTF-8")))
}

/// Frees a status result. Null is ignored.
///
/// # Safety
/// `r` is null or a pointer returned by this library and not yet destroyed.
#[no_mangle]
pub unsafe extern "C" fn ozkcp_destroy_status_result(r: *mut OzkcpStatusResult) {
    if r.is_null() {
        return;
    }
    let r = Box::from_raw(r);
    free_msg(r.error_msg);
}

/// Frees a bytes result and its buffer. Null is ignored.
///
/// # Safety
/// `r` is null or a pointer returned by this library and not yet destroyed.
#[no_mangle]
pub unsafe extern "C" fn ozkcp_destroy_bytes_result(r: *mut OzkcpBytesResult) {
    if r.is_null() {
        return;
    }
    let r = Box::from_raw(r);
    free_msg(r.error_msg);
    free_buf(r.value_ptr, r.value_len);
}

/// Frees a pair result and both buffers. Null is ignored.
///
/// # Safety
/// `r` is null or a pointer returned by this library and not yet destroyed.
#[no_mangle]
pub unsafe extern "C" fn ozkcp_destroy_pair_result(r: *mut OzkcpPairResult) {
    if r.is_null() {
        return;
    }
    let r = Box::from_raw(r);
    free_msg(r.error_msg);
    free_buf(r.first_ptr, r.first_len);
    free_buf(r.second_ptr, r.second_len);
}

/// Frees a handle result (not the handle: see `ozkcp_handle_destroy`). Null is ignored.
///
/// # Safety
/// `r` is null or a pointer returned by this library and not yet destroyed.
#[no_mangle]
pub unsafe extern "C" fn ozkcp_destroy_handle_result(r: *mut OzkcpHandleResult) {
    if r.is_null() {
        return;
    }
    let r = Box::from_raw(r);
    free_msg(r.error_msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_errors() {
        let r = call::<OzkcpStatusResult>(|| panic!("boom"));
        // SAFETY: `r` comes from `call` and is destroyed once.
        unsafe {
            assert_eq!((*r).status_code, OZKCP_ERR_PANIC);
            let msg = std::ffi::CStr::from_ptr((*r).error_msg).to_string_lossy();
            assert!(msg.contains("boom"), "{msg}");
            ozkcp_destroy_status_result(r);
        }
    }

    #[test]
    fn messages_with_nul_bytes_survive() {
        let r = call::<OzkcpBytesResult>(|| Err(FfiError::invalid("a\0b")));
        // SAFETY: as above.
        unsafe {
            let msg = std::ffi::CStr::from_ptr((*r).error_msg).to_string_lossy();
            assert_eq!(msg, "a?b");
            ozkcp_destroy_bytes_result(r);
        }
    }
}
