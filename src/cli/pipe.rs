//! A closed standard output (`kiln cat big.clif | head -1`) ends the
//! program quietly with status 0, as for other Unix filters.
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe is an `EPIPE` error,
//! and `println!` panics on it. Commands that write through a handle
//! check for [`std::io::ErrorKind::BrokenPipe`] themselves; for the
//! `println!` calls elsewhere, the panic hook installed here recognises
//! that panic and exits with status 0 instead of printing it. Every other
//! panic is reported as before.

/// Installs the hook (once, at the start of `main`).
pub fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}
