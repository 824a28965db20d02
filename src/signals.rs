//! SIGTERM and SIGINT for the one long-running command, `refresh --every`: once [`Stop::install`]
//! has run, either signal no longer ends the process; it ends the current wait instead, and the
//! command returns (exit 0) at its next check. Built on tokio's signal support (the runtime the AWS
//! SDK already uses; a current-thread runtime of its own, only in this command).

use std::future::Future;
use std::task::Poll;
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// The installed handlers and the runtime that delivers them.
pub(crate) struct Stop {
    rt: tokio::runtime::Runtime,
    term: Signal,
    int: Signal,
    stopped: bool,
}

impl Stop {
    /// Catches SIGTERM and SIGINT from now on.
    pub(crate) fn install() -> std::io::Result<Stop> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let (term, int) = {
            let _in = rt.enter();
            (
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
            )
        };
        Ok(Stop {
            rt,
            term,
            int,
            stopped: false,
        })
    }

    /// Waits `d` (at least a millisecond, so the runtime looks at the signals it has received) or
    /// until a signal arrives; true once one has arrived (then at once, ever after).
    pub(crate) fn wait(&mut self, d: Duration) -> bool {
        if self.stopped {
            return true;
        }
        let (term, int) = (&mut self.term, &mut self.int);
        let stopped = self.rt.block_on(async {
            let mut sleep = std::pin::pin!(tokio::time::sleep(d.max(Duration::from_millis(1))));
            std::future::poll_fn(|cx| {
                if term.poll_recv(cx).is_ready() || int.poll_recv(cx).is_ready() {
                    return Poll::Ready(true);
                }
                sleep.as_mut().poll(cx).map(|()| false)
            })
            .await
        });
        self.stopped = stopped;
        stopped
    }
}
