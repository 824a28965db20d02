//! What the process does to itself before it holds any secret: no core dumps. A crash (SIGABRT,
//! SIGSEGV) during a `get` would otherwise write its memory, keys and tokens included, to a core
//! file; `RLIMIT_CORE=0` stops the dump and "not dumpable" also keeps other processes of the same
//! user from attaching to it or reading its memory through /proc. And a umask of its own, so what
//! it creates gets exactly the modes it asks for (docs/storage.md, "Files and modes").

/// In the statically linked build (glibc with `crt-static`), pins the name-service switch to
/// glibc's built-in modules: host names through `files` (/etc/hosts) then `dns`
/// (/etc/resolv.conf), users and groups through `files`. A static glibc would otherwise `dlopen`
/// whatever modules the machine's /etc/nsswitch.conf names (`resolve`, `mdns4_minimal`, `sss`,
/// ...), built against the machine's own glibc, not the one linked in: unsupported, and a
/// crash or a failed lookup when the versions differ. With no nsswitch.conf at all (an image
/// FROM scratch) glibc's default is the same two modules. A dynamically linked build keeps the
/// machine's configuration (docs/image.md, "The static binary").
pub fn pin_name_services() {
    #[cfg(all(target_os = "linux", target_env = "gnu", target_feature = "crt-static"))]
    nss::pin();
}

#[cfg(all(target_os = "linux", target_env = "gnu", target_feature = "crt-static"))]
#[allow(unsafe_code)]
mod nss {
    use std::ffi::{c_char, c_int, CStr};

    extern "C" {
        /// glibc's documented override of one database's nsswitch.conf line (`<nss.h>`).
        fn __nss_configure_lookup(db: *const c_char, service_line: *const c_char) -> c_int;
    }

    const LINES: [(&CStr, &CStr); 3] = [
        (c"hosts", c"files dns"),
        (c"passwd", c"files"),
        (c"group", c"files"),
    ];

    pub(super) fn pin() {
        for (db, line) in LINES {
            // SAFETY: two NUL-terminated static strings, which glibc only reads (it copies the
            // line); called first in main, before any other thread exists or any lookup ran.
            // A failure (-1: unknown database) leaves that database as it was.
            let _ = unsafe { __nss_configure_lookup(db.as_ptr(), line.as_ptr()) };
        }
    }
}

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

/// Sets the process umask to 0077. The helper creates every directory 0700 and every file 0600
/// in the `mkdir`/`open` call itself; the caller's umask may only remove bits, and one that removes
/// the owner's (0277: a directory comes out 0500, nothing can be created in it, a lock file 0400
/// cannot be reopened) breaks every write. 0077 removes nothing the helper asks for and still
/// keeps group and others out of anything created without an explicit mode (a child such as an
/// AWS profile's `credential_process` inherits it: its files stay private too).
pub fn private_umask() {
    #[cfg(unix)]
    {
        let _ = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
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
