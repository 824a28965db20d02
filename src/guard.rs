//! A held lock, released when dropped: what the token cache's single flight and the store's
//! rotation lock hand back, whatever holds them underneath (a locked file, a remote lease).

pub struct Guard {
    _held: Box<dyn std::any::Any>,
}

impl Guard {
    pub(crate) fn new(held: impl std::any::Any) -> Guard {
        Guard {
            _held: Box::new(held),
        }
    }
}
