//! What the process does to itself before it holds any secret: no core dumps. A crash (SIGABRT,
//! SIGSEGV) during a `get` would otherwise write its memory, keys and tokens included, to a core
//! file; `RLIMIT_CORE=0` stops the dump and "not dumpable" also keeps other processes of the same
//! user from attaching to it or reading its memory through /proc.

/// Turns core dumps off for this process. Best effort: a platform without these calls keeps going.
pub fn forbid_core_dumps() {
    #[cfg(unix)]
    {
        use rustix::process::{setrlimit, Resource, Rlimit};
        let none = Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        let _ = setrlimit(Resource::Core, none);
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::process::{set_dumpable_behavior, DumpableBehavior};
        let _ = set_dumpable_behavior(DumpableBehavior::NotDumpable);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn core_dumps_are_off_after_the_call() {
        super::forbid_core_dumps();
        let limit = rustix::process::getrlimit(rustix::process::Resource::Core);
        assert_eq!((limit.current, limit.maximum), (Some(0), Some(0)));
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            rustix::process::DumpableBehavior::NotDumpable
        );
    }
}
