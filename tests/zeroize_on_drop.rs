//! Secret-holding memory is wiped before it is freed. A global allocator wrapper inspects every
//! block as it is freed and counts blocks that still contain a marker; the test drops the helper's
//! secret types holding that marker and expects none. A plain `Vec` shows the detector works.
//! (Unsafe code outside the crate: a `GlobalAlloc` impl cannot be written without it. The crate
//! itself has one unsafe call, the static build's name-service pin in src/process.rs.)

#![allow(unsafe_code)]

use docker_credential_beta9::login::Login;
use docker_credential_beta9::protocol::login_json;
use docker_credential_beta9::secret::SecretBuf;
use secrecy::SecretString;
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const MARK: &[u8] = b"ZEROIZE-MARKER-5d1c";

static ARMED: AtomicBool = AtomicBool::new(false);
static DIRTY_FREES: AtomicUsize = AtomicUsize::new(0);

struct Inspecting;

unsafe impl GlobalAlloc for Inspecting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::Relaxed) && layout.size() >= MARK.len() {
            // SAFETY: the block is still ours until System.dealloc below.
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            if block.windows(MARK.len()).any(|w| w == MARK) {
                DIRTY_FREES.fetch_add(1, Ordering::Relaxed);
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Inspecting = Inspecting;

fn dirty_frees_during(f: impl FnOnce()) -> usize {
    let before = DIRTY_FREES.load(Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    f();
    ARMED.store(false, Ordering::SeqCst);
    DIRTY_FREES.load(Ordering::SeqCst) - before
}

fn marker_string() -> String {
    // Built at run time so the marker exists only in heap blocks we control.
    String::from_utf8(MARK.to_vec()).expect("ascii marker")
}

// One test function: the allocator is global, so parallel tests would see each other's blocks.
#[test]
fn secret_types_wipe_their_memory_before_freeing_it() {
    // The detector sees an ordinary Vec freed with the marker in it.
    assert!(dirty_frees_during(|| drop(MARK.to_vec())) >= 1);

    // SecretBuf, including every reallocation while it grows.
    assert_eq!(
        dirty_frees_during(|| {
            let mut b = SecretBuf::with_capacity(4);
            for _ in 0..500 {
                b.write_all(MARK).unwrap();
            }
            drop(b);
        }),
        0,
        "SecretBuf left the marker in freed memory"
    );

    // stdin as the protocol reads it, growing from 8 KiB to 200 KiB.
    assert_eq!(
        dirty_frees_during(|| {
            let input: Vec<u8> = MARK.iter().copied().cycle().take(200 * 1024).collect();
            let input = zeroize::Zeroizing::new(input);
            let buf = SecretBuf::read_capped(&mut &input[..], 1 << 20)
                .unwrap()
                .unwrap();
            drop(buf);
        }),
        0,
        "read_capped left the marker in freed memory"
    );

    // A login and the `get` answer built from it.
    assert_eq!(
        dirty_frees_during(|| {
            let login = Login::new("user", &SecretString::from(marker_string()));
            let answer = login_json("ghcr.io", &login);
            drop(answer);
            drop(login);
        }),
        0,
        "Login or login_json left the marker in freed memory"
    );
}
