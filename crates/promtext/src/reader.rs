//! Streaming over `io::Read`: whole lines are parsed as they arrive; memory stays bounded by
//! [`Limits::max_line_bytes`] plus one read buffer.

use std::io::Read;

use crate::error::{Error, ErrorKind, ParseError};
use crate::parser::{Event, Parser, State};
use crate::{Format, Limits};

const READ_CHUNK_BYTES: usize = 256 << 10;

/// Parse everything `reader` yields, calling `visit` for each event. Stops at the first error,
/// from the parser, from `visit` or from the reader.
pub fn parse_reader<R, F>(
    mut reader: R,
    format: Format,
    limits: Limits,
    mut visit: F,
) -> Result<(), Error>
where
    R: Read,
    F: FnMut(&Event<'_, '_>) -> Result<(), ParseError>,
{
    let mut buffer: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut state = State::new(format);
    let mut at_end = false;
    loop {
        // Top the buffer up by one chunk.
        let filled = buffer.len();
        buffer.resize(filled + READ_CHUNK_BYTES, 0);
        let mut read_now = 0;
        while !at_end && read_now < READ_CHUNK_BYTES {
            match reader.read(&mut buffer[filled + read_now..]) {
                Ok(0) => at_end = true,
                Ok(n) => read_now += n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Error::Io {
                        offset: state.offset + (filled + read_now) as u64,
                        source,
                    });
                }
            }
            // Parse as soon as a line is complete rather than waiting for a full chunk.
            if read_now > 0 && memchr::memchr(b'\n', &buffer[filled..filled + read_now]).is_some() {
                break;
            }
        }
        buffer.truncate(filled + read_now);

        let mut parser = Parser::resume(&buffer, state, limits, at_end);
        while let Some(event) = parser.next_event()? {
            visit(&event)?;
        }
        let consumed = parser.consumed();
        state = parser.state;
        buffer.drain(..consumed);
        if at_end {
            return Ok(());
        }
        if buffer.len() > limits.max_line_bytes {
            return Err(ParseError {
                line: state.line + 1,
                column: limits.max_line_bytes as u64 + 1,
                offset: state.offset + limits.max_line_bytes as u64,
                kind: ErrorKind::LineTooLong {
                    limit: limits.max_line_bytes,
                },
            }
            .into());
        }
    }
}
