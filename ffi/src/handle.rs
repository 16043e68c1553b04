//! Long-lived objects behind opaque handles: a registry of live handles with their type.
//!
//! A handle is the address of a reference-counted object that the registry keeps alive. Every
//! use looks the address up under the registry's lock and checks the object's type, so a null,
//! destroyed, foreign or wrongly typed handle is an error (`OZKCP_ERR_BAD_HANDLE`), never a
//! dereference. A destroyed handle's address may be reused by a later handle; hosts drop their
//! copy of a handle when they destroy it (the Go bindings do).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use ozkcp::client::ClientDeal;
use ozkcp::provider::ProviderDeal;
use ozkcp_core::sig::SecpSigner;

use crate::abi::{call, FfiError, OzkcpStatusResult, OZKCP_ERR_BAD_HANDLE};
use crate::zk::ZkParams;

/// An opaque handle: a signer, zk parameters, or a provider's or client's deal.
pub struct OzkcpHandle {
    _private: [u8; 0],
}

/// What a handle holds. Signers and parameters are immutable (shared by threads freely); deals
/// are behind a mutex (calls on one deal are serialized).
pub(crate) enum Object {
    Signer(Box<SecpSigner>),
    Params(Box<ZkParams>),
    Provider(Box<Mutex<ProviderDeal>>),
    Client(Box<Mutex<ClientDeal>>),
}

impl Object {
    fn kind(&self) -> &'static str {
        match self {
            Object::Signer(_) => "signer",
            Object::Params(_) => "zk params",
            Object::Provider(_) => "provider deal",
            Object::Client(_) => "client deal",
        }
    }
}

type Registry = Mutex<HashMap<usize, Arc<Object>>>;

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashMap::new()))
}

fn lock_registry() -> std::sync::MutexGuard<'static, HashMap<usize, Arc<Object>>> {
    // The registry is only mutated by insert/remove, which cannot leave it inconsistent.
    registry().lock().unwrap_or_else(|p| p.into_inner())
}

/// Registers `obj` and returns its handle.
pub(crate) fn register(obj: Object) -> *mut OzkcpHandle {
    let arc = Arc::new(obj);
    let addr = Arc::as_ptr(&arc) as usize;
    lock_registry().insert(addr, arc);
    addr as *mut OzkcpHandle
}

/// The live object behind `h`, if it is of the kind `want`.
pub(crate) fn get(h: *const OzkcpHandle, want: &'static str) -> Result<Arc<Object>, FfiError> {
    if h.is_null() {
        return Err(FfiError::new(
            OZKCP_ERR_BAD_HANDLE,
            format!("null {want} handle"),
        ));
    }
    let obj = lock_registry().get(&(h as usize)).cloned().ok_or_else(|| {
        FfiError::new(
            OZKCP_ERR_BAD_HANDLE,
            format!("{want} handle is not live (destroyed or never created)"),
        )
    })?;
    if obj.kind() != want {
        return Err(FfiError::new(
            OZKCP_ERR_BAD_HANDLE,
            format!("handle is a {}, expected a {want}", obj.kind()),
        ));
    }
    Ok(obj)
}

/// Locks a deal's mutex, reporting a poisoned one (a panic mid-call) as a handle error.
pub(crate) fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, FfiError> {
    m.lock().map_err(|_| {
        FfiError::new(
            OZKCP_ERR_BAD_HANDLE,
            "deal handle is poisoned by an earlier panic; destroy it",
        )
    })
}

/// Runs `f` on the signer behind `h`.
pub(crate) fn with_signer<T>(
    h: *const OzkcpHandle,
    f: impl FnOnce(&SecpSigner) -> Result<T, FfiError>,
) -> Result<T, FfiError> {
    match &*get(h, "signer")? {
        Object::Signer(s) => f(s),
        _ => unreachable!("kind checked by get"),
    }
}

/// Runs `f` on the zk parameters behind `h`.
pub(crate) fn with_params<T>(
    h: *const OzkcpHandle,
    f: impl FnOnce(&ZkParams) -> Result<T, FfiError>,
) -> Result<T, FfiError> {
    match &*get(h, "zk params")? {
        Object::Params(p) => f(p),
        _ => unreachable!("kind checked by get"),
    }
}

/// Runs `f` on the zk parameters behind `h`, or on `None` when `h` is null (no parameters:
/// fraud mode).
pub(crate) fn with_opt_params<T>(
    h: *const OzkcpHandle,
    f: impl FnOnce(Option<&ZkParams>) -> Result<T, FfiError>,
) -> Result<T, FfiError> {
    if h.is_null() {
        return f(None);
    }
    with_params(h, |p| f(Some(p)))
}

/// Runs `f` on the provider deal behind `h`, holding its lock.
pub(crate) fn with_provider<T>(
    h: *const OzkcpHandle,
    f: impl FnOnce(&mut ProviderDeal) -> Result<T, FfiError>,
) -> Result<T, FfiError> {
    match &*get(h, "provider deal")? {
        Object::Provider(m) => f(&mut *lock(m)?),
        _ => unreachable!("kind checked by get"),
    }
}

/// Runs `f` on the client deal behind `h`, holding its lock.
pub(crate) fn with_client<T>(
    h: *const OzkcpHandle,
    f: impl FnOnce(&mut ClientDeal) -> Result<T, FfiError>,
) -> Result<T, FfiError> {
    match &*get(h, "client deal")? {
        Object::Client(m) => f(&mut *lock(m)?),
        _ => unreachable!("kind checked by get"),
    }
}

/// Destroys a handle of any type. Destroying a null, already destroyed or unknown handle is an
/// error (`OZKCP_ERR_BAD_HANDLE`), not a crash. Calls running on the object in other threads
/// finish first: the object is freed when the last of them returns.
///
/// # Safety
/// None beyond the ABI's: `h` is not dereferenced.
#[no_mangle]
pub unsafe extern "C" fn ozkcp_handle_destroy(h: *mut OzkcpHandle) -> *mut OzkcpStatusResult {
    call(|| {
        if h.is_null() {
            return Err(FfiError::new(OZKCP_ERR_BAD_HANDLE, "null handle"));
        }
        match lock_registry().remove(&(h as usize)) {
            Some(_) => Ok(()),
            None => Err(FfiError::new(
                OZKCP_ERR_BAD_HANDLE,
                "handle is not live (already destroyed or never created)",
            )),
        }
    })
}
