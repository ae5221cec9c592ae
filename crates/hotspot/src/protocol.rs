//! The wire format of HotSpot's attach protocol, version 1, and reading an answer with bounded
//! patience.
//!
//! Request: `"1\0" cmd "\0" arg1 "\0" arg2 "\0" arg3 "\0"` — always three arguments.
//! Answer: an ASCII decimal result code, `\n`, then the command's output until EOF.

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{AttachError, Result};

/// The only protocol version HotSpot speaks over the UNIX socket.
pub const PROTOCOL_VERSION: &str = "1";
/// HotSpot's limits (`AttachOperation::name_length_max`, `arg_length_max`, `arg_count_max`).
pub const MAX_COMMAND_LEN: usize = 16;
/// See [`MAX_COMMAND_LEN`].
pub const MAX_ARG_LEN: usize = 1024;
/// See [`MAX_COMMAND_LEN`].
pub const MAX_ARGS: usize = 3;
/// How much of an error message we keep from the JVM.
const MAX_ERROR_TEXT: usize = 64 * 1024;
/// How long a single blocking read may take before we look at the clock, the cancel flag and
/// whether the target is still alive.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Encode a request, checking the JVM's limits so it does not silently truncate or reject it.
pub fn encode_request(command: &str, args: &[&str]) -> Result<Vec<u8>> {
    let invalid = |reason: String| AttachError::InvalidRequest {
        command: command.to_string(),
        reason,
    };
    if command.is_empty() || command.len() > MAX_COMMAND_LEN {
        return Err(invalid(format!(
            "the operation name must be 1 to {MAX_COMMAND_LEN} bytes"
        )));
    }
    if args.len() > MAX_ARGS {
        return Err(invalid(format!(
            "at most {MAX_ARGS} arguments, got {}",
            args.len()
        )));
    }
    let mut out =
        Vec::with_capacity(8 + command.len() + args.iter().map(|a| a.len() + 1).sum::<usize>());
    out.extend_from_slice(PROTOCOL_VERSION.as_bytes());
    out.push(0);
    if command.contains('\0') {
        return Err(invalid("NUL byte in the operation name".into()));
    }
    out.extend_from_slice(command.as_bytes());
    out.push(0);
    for i in 0..MAX_ARGS {
        let arg = args.get(i).copied().unwrap_or("");
        if arg.contains('\0') {
            return Err(invalid(format!("NUL byte in argument {}", i + 1)));
        }
        if arg.len() > MAX_ARG_LEN {
            return Err(invalid(format!(
                "argument {} is {} bytes; the JVM accepts at most {MAX_ARG_LEN}",
                i + 1,
                arg.len()
            )));
        }
        out.extend_from_slice(arg.as_bytes());
        out.push(0);
    }
    Ok(out)
}

/// True when a line of output is a Java exception the JVM printed instead of running the command
/// (some JDKs return result code 0 with e.g. `java.lang.IllegalArgumentException: …`).
pub fn is_exception_line(line: &str) -> bool {
    let head = line.split(':').next().unwrap_or("").trim();
    let class = head.rsplit('.').next().unwrap_or("");
    head.contains('.')
        && !head.contains(' ')
        && (class.ends_with("Exception") || class.ends_with("Error"))
        && head
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '$' | '_'))
}

/// Parse the result-code line (without its `\n`).
pub fn parse_result_code(line: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(line).ok()?.trim();
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    text.parse::<i64>().ok()
}

/// What a wait loop consults while the JVM is silent.
pub struct Patience<'a> {
    /// Pid for messages.
    pub pid: u32,
    /// Command for messages.
    pub command: String,
    /// Give up after this long without data (or without progress reported by `on_tick`).
    pub idle_limit: Duration,
    /// Set by a signal handler to abandon the wait.
    pub cancel: Option<&'a AtomicBool>,
    /// False once the target is gone.
    pub alive: &'a dyn Fn() -> bool,
    /// Called on every poll interval; returns true when progress was observed elsewhere (e.g. the
    /// dump file grew), which resets the idle timer.
    pub on_tick: Option<&'a mut dyn FnMut() -> bool>,
    /// What we are doing, for "exited while …" / "interrupted while …".
    pub during: &'static str,
    idle_since: Instant,
}

impl<'a> Patience<'a> {
    /// A new wait, starting the idle clock now.
    pub fn new(pid: u32, command: &str, idle_limit: Duration, alive: &'a dyn Fn() -> bool) -> Self {
        Patience {
            pid,
            command: command.to_string(),
            idle_limit,
            cancel: None,
            alive,
            on_tick: None,
            during: "waiting for the JVM's answer",
            idle_since: Instant::now(),
        }
    }

    fn data_arrived(&mut self) {
        self.idle_since = Instant::now();
    }

    /// Called when a read timed out: decide whether to keep waiting.
    fn still_waiting(&mut self) -> Result<()> {
        if self.cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
            return Err(AttachError::Cancelled {
                during: self.during,
            });
        }
        if let Some(tick) = self.on_tick.as_mut()
            && tick()
        {
            self.idle_since = Instant::now();
        }
        if !(self.alive)() {
            return Err(AttachError::ProcessExited {
                pid: self.pid,
                during: self.during,
            });
        }
        let waited = self.idle_since.elapsed();
        if waited >= self.idle_limit {
            return Err(AttachError::ResponseTimeout {
                pid: self.pid,
                command: self.command.clone(),
                waited,
            });
        }
        Ok(())
    }
}

/// Read into `buf`, waiting patiently. The stream must have a read timeout of about
/// [`POLL_INTERVAL`] so the loop gets control back. Returns 0 at EOF.
pub fn read_patiently<R: Read>(
    stream: &mut R,
    buf: &mut [u8],
    patience: &mut Patience<'_>,
) -> Result<usize> {
    loop {
        match stream.read(buf) {
            Ok(n) => {
                patience.data_arrived();
                return Ok(n);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                patience.still_waiting()?;
            }
            Err(source) => {
                if gone_soon(patience.alive) {
                    return Err(AttachError::ProcessExited {
                        pid: patience.pid,
                        during: patience.during,
                    });
                }
                return Err(AttachError::Socket {
                    pid: patience.pid,
                    what: "reading the answer",
                    source,
                });
            }
        }
    }
}

/// A connection closed without an answer usually means the JVM is going away: the kernel closes a
/// dying process's sockets before the process turns into a zombie, so give it a moment to finish
/// exiting before calling the closed connection a protocol error.
fn gone_soon(alive: &dyn Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_millis(1500);
    loop {
        if !alive() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Read the result-code line. Reads byte by byte so nothing of the body is consumed.
pub fn read_result_code<R: Read>(stream: &mut R, patience: &mut Patience<'_>) -> Result<i64> {
    let mut line = Vec::with_capacity(8);
    let mut byte = [0u8; 1];
    loop {
        let n = read_patiently(stream, &mut byte, patience)?;
        if n == 0 {
            if line.is_empty() && gone_soon(patience.alive) {
                return Err(AttachError::ProcessExited {
                    pid: patience.pid,
                    during: patience.during,
                });
            }
            return Err(AttachError::InvalidResponse {
                pid: patience.pid,
                command: patience.command.clone(),
                received: if line.is_empty() {
                    "nothing (connection closed)".to_string()
                } else {
                    String::from_utf8_lossy(&line).into_owned()
                },
            });
        }
        if byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
        if line.len() > 20 {
            break;
        }
    }
    parse_result_code(&line).ok_or_else(|| AttachError::InvalidResponse {
        pid: patience.pid,
        command: patience.command.clone(),
        received: String::from_utf8_lossy(&line).into_owned(),
    })
}

/// Read the rest of the answer, up to `cap` bytes, as text (for error messages and short outputs).
pub fn read_text<R: Read>(
    stream: &mut R,
    patience: &mut Patience<'_>,
    cap: usize,
) -> Result<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = read_patiently(stream, &mut buf, patience)?;
        if n == 0 {
            break;
        }
        let room = cap.saturating_sub(out.len());
        out.extend_from_slice(&buf[..n.min(room)]);
        if room < n {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Send a request on a connected stream and stream the answer's body to `out`.
///
/// Fails with [`AttachError::CommandFailed`] when the result code is not 0, or when it is 0 but
/// the first line of the output is a Java exception (checked before anything is written to
/// `out`). Returns the number of body bytes written.
pub fn exchange<S: Read + Write>(
    stream: &mut S,
    command: &str,
    args: &[&str],
    out: &mut dyn Write,
    patience: &mut Patience<'_>,
) -> Result<u64> {
    let request = encode_request(command, args)?;
    stream
        .write_all(&request)
        .map_err(|source| AttachError::Socket {
            pid: patience.pid,
            what: "sending the request",
            source,
        })?;
    let code = read_result_code(stream, patience)?;
    let described = describe(command, args);
    if code != 0 {
        let message = read_text(stream, patience, MAX_ERROR_TEXT)?;
        return Err(AttachError::CommandFailed {
            pid: patience.pid,
            command: described,
            code,
            message: tidy_message(&message, code),
        });
    }
    // Hold back the first line to look for an exception before passing anything on.
    let mut head = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut eof = false;
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = read_patiently(stream, &mut buf, patience)?;
        if n == 0 {
            eof = true;
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let first_line = head.split(|b| *b == b'\n').next().unwrap_or(&[]);
    if is_exception_line(&String::from_utf8_lossy(first_line)) {
        let mut message = String::from_utf8_lossy(&head).into_owned();
        if !eof {
            message.push_str(&read_text(stream, patience, MAX_ERROR_TEXT)?);
        }
        return Err(AttachError::CommandFailed {
            pid: patience.pid,
            command: described,
            code,
            message: tidy_message(&message, code),
        });
    }
    let write_err = |source| AttachError::File {
        what: "writing the output to",
        path: "the output".into(),
        source,
    };
    out.write_all(&head).map_err(write_err)?;
    let mut total = head.len() as u64;
    if !eof {
        loop {
            let n = read_patiently(stream, &mut buf, patience)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).map_err(write_err)?;
            total += n as u64;
        }
    }
    Ok(total)
}

fn describe(command: &str, args: &[&str]) -> String {
    let mut parts = vec![command];
    parts.extend(args.iter().copied().filter(|a| !a.is_empty()));
    parts.join(" ")
}

fn tidy_message(message: &str, code: i64) -> String {
    let trimmed = message.trim();
    if !trimmed.is_empty() {
        return trimmed.to_string();
    }
    match code {
        101 => {
            "attach protocol version mismatch (the JVM wants another protocol version)".to_string()
        }
        _ => "no message from the JVM".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A stream that answers with fixed bytes and records what was written.
    struct Scripted {
        answer: Cursor<Vec<u8>>,
        sent: Vec<u8>,
    }
    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.answer.read(buf)
        }
    }
    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.sent.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn run(answer: &[u8], command: &str, args: &[&str]) -> (Result<u64>, Vec<u8>, Vec<u8>) {
        let mut stream = Scripted {
            answer: Cursor::new(answer.to_vec()),
            sent: Vec::new(),
        };
        let alive = || true;
        let mut patience = Patience::new(1, command, Duration::from_secs(1), &alive);
        let mut out = Vec::new();
        let result = exchange(&mut stream, command, args, &mut out, &mut patience);
        (result, stream.sent, out)
    }

    #[test]
    fn request_always_has_three_arguments() {
        assert_eq!(
            encode_request("threaddump", &["-l"]).expect("valid"),
            b"1\0threaddump\0-l\0\0\0"
        );
        assert_eq!(
            encode_request("jcmd", &["GC.heap_info"]).expect("valid"),
            b"1\0jcmd\0GC.heap_info\0\0\0".to_vec()
        );
        assert_eq!(
            encode_request("dumpheap", &["/tmp/x", "-live", ""]).expect("valid"),
            b"1\0dumpheap\0/tmp/x\0-live\0\0"
        );
    }

    #[test]
    fn request_limits_are_enforced() {
        assert!(encode_request("", &[]).is_err());
        assert!(encode_request("a_very_long_operation", &[]).is_err());
        assert!(encode_request("jcmd", &["a", "b", "c", "d"]).is_err());
        assert!(encode_request("jcmd", &["bad\0arg"]).is_err());
        assert!(encode_request("jcmd", &[&"x".repeat(1025)]).is_err());
        assert!(encode_request("jcmd", &[&"x".repeat(1024)]).is_ok());
    }

    #[test]
    fn success_streams_the_body() {
        let (result, sent, out) = run(b"0\nFull thread dump\nline 2\n", "threaddump", &["-l"]);
        assert_eq!(result.expect("success"), 24);
        assert_eq!(sent, b"1\0threaddump\0-l\0\0\0");
        assert_eq!(out, b"Full thread dump\nline 2\n");
    }

    #[test]
    fn nonzero_code_is_an_error_with_the_jvm_message() {
        let (result, _, out) = run(
            b"-1\njava.lang.IllegalArgumentException: Unknown diagnostic command\n",
            "jcmd",
            &["Bogus"],
        );
        match result {
            Err(AttachError::CommandFailed {
                code: -1,
                message,
                command,
                ..
            }) => {
                assert_eq!(
                    message,
                    "java.lang.IllegalArgumentException: Unknown diagnostic command"
                );
                assert_eq!(command, "jcmd Bogus");
            }
            other => panic!("expected CommandFailed, got {other:?}"),
        }
        assert!(out.is_empty());
        let (result, _, _) = run(b"101\n", "jcmd", &["x"]);
        assert!(
            matches!(result, Err(AttachError::CommandFailed { code: 101, message, .. }) if message.contains("version"))
        );
    }

    #[test]
    fn exception_text_with_code_zero_is_an_error() {
        let (result, _, out) = run(
            b"0\njava.lang.IllegalArgumentException: Unknown argument 'x'\n",
            "jcmd",
            &["Thread.print x"],
        );
        assert!(matches!(
            result,
            Err(AttachError::CommandFailed { code: 0, .. })
        ));
        assert!(
            out.is_empty(),
            "nothing of a failed command reaches the output"
        );
    }

    #[test]
    fn non_numeric_or_missing_code_is_invalid_response() {
        let (result, _, _) = run(b"HTTP/1.1 400 Bad Request\r\n\r\n", "threaddump", &[]);
        assert!(
            matches!(result, Err(AttachError::InvalidResponse { received, .. }) if received.starts_with("HTTP/1.1"))
        );
        let (result, _, _) = run(b"", "threaddump", &[]);
        assert!(
            matches!(result, Err(AttachError::InvalidResponse { received, .. }) if received.contains("closed"))
        );
        let (result, _, _) = run(b"0", "threaddump", &[]);
        assert!(matches!(result, Err(AttachError::InvalidResponse { .. })));
    }

    #[test]
    fn exception_lines_are_recognised() {
        assert!(is_exception_line(
            "java.lang.IllegalArgumentException: Unknown diagnostic command"
        ));
        assert!(is_exception_line("java.lang.OutOfMemoryError"));
        assert!(!is_exception_line(
            "Full thread dump OpenJDK 64-Bit Server VM"
        ));
        assert!(!is_exception_line(
            "\"main\" #1 prio=5 java.lang.Thread.State: RUNNABLE"
        ));
        assert!(!is_exception_line(
            " num     #instances         #bytes  class name (module)"
        ));
        assert!(!is_exception_line(""));
    }
}
