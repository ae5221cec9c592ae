//! From bytes to a validated [`Profile`]: bounded gunzip, a hand-driven top-level protobuf loop (so
//! every element has a byte offset and the element counts are capped before they are allocated),
//! `prost` for each element, then validation of every index and id.

use std::collections::HashMap;
use std::io::Read;

use prost::Message;

use crate::error::Error;
use crate::profile::{IdIndex, Profile};
use crate::proto;

/// Bounds on what a profile may make us allocate. Every default is far above what the Go runtime
/// produces (a 60 s CPU profile of a busy service is a few MB) and far below what would exhaust a
/// machine.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest decompressed `profile.proto`, in bytes (gzip bombs stop here).
    pub max_decompressed_bytes: u64,
    /// Most samples.
    pub max_samples: usize,
    /// Most locations.
    pub max_locations: usize,
    /// Most functions.
    pub max_functions: usize,
    /// Most mappings.
    pub max_mappings: usize,
    /// Most string-table entries.
    pub max_strings: usize,
    /// Most sample types (values per sample).
    pub max_sample_types: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_decompressed_bytes: 1 << 30,
            max_samples: 10_000_000,
            max_locations: 5_000_000,
            max_functions: 5_000_000,
            max_mappings: 100_000,
            max_strings: 10_000_000,
            max_sample_types: 64,
        }
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// True when `data` starts like a gzip stream.
pub fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&GZIP_MAGIC)
}

/// Return the `profile.proto` bytes: `data` itself when it is not gzip-compressed, otherwise its
/// decompression, stopping with [`Error::DecompressedTooLarge`] past `limits.max_decompressed_bytes`.
pub fn decompress<'a>(
    data: &'a [u8],
    limits: &Limits,
) -> Result<std::borrow::Cow<'a, [u8]>, Error> {
    if !is_gzip(data) {
        if data.len() as u64 > limits.max_decompressed_bytes {
            return Err(Error::DecompressedTooLarge {
                limit_bytes: limits.max_decompressed_bytes,
            });
        }
        return Ok(std::borrow::Cow::Borrowed(data));
    }
    // The gzip trailer holds the size modulo 2^32: a good first guess for the buffer, never trusted
    // beyond the limit.
    let size_hint = if data.len() >= 18 {
        let tail = &data[data.len() - 4..];
        u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64
    } else {
        0
    };
    let cap = limits.max_decompressed_bytes;
    let mut out = Vec::with_capacity(size_hint.min(cap).min(256 << 20) as usize);
    let decoder = flate2::read::MultiGzDecoder::new(data);
    let mut bounded = decoder.take(cap.saturating_add(1));
    if let Err(source) = bounded.read_to_end(&mut out) {
        return Err(Error::Gzip {
            decompressed_bytes: out.len() as u64,
            source,
        });
    }
    if out.len() as u64 > cap {
        return Err(Error::DecompressedTooLarge { limit_bytes: cap });
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Read a profile from any reader (at most `limits.max_decompressed_bytes` compressed bytes are read).
pub fn read_profile(mut reader: impl Read, limits: &Limits) -> Result<Profile, Error> {
    let mut data = Vec::new();
    reader
        .by_ref()
        .take(limits.max_decompressed_bytes.saturating_add(1))
        .read_to_end(&mut data)?;
    if data.len() as u64 > limits.max_decompressed_bytes {
        return Err(Error::DecompressedTooLarge {
            limit_bytes: limits.max_decompressed_bytes,
        });
    }
    parse_profile(&data, limits)
}

/// Decode and validate a profile, gzip-compressed or not.
pub fn parse_profile(data: &[u8], limits: &Limits) -> Result<Profile, Error> {
    let raw = decompress(data, limits)?;
    let (proto, strings) = decode_wire(&raw, limits)?;
    Profile::validate(proto, strings, &raw)
}

pub(crate) const FIELD_SAMPLE_TYPE: u32 = 1;
pub(crate) const FIELD_SAMPLE: u32 = 2;
pub(crate) const FIELD_MAPPING: u32 = 3;
pub(crate) const FIELD_LOCATION: u32 = 4;
pub(crate) const FIELD_FUNCTION: u32 = 5;
pub(crate) const FIELD_STRING: u32 = 6;

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, Error> {
    let start = *pos;
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let Some(&byte) = buf.get(*pos) else {
            return Err(Error::Malformed {
                offset: start,
                what: "varint runs past the end of the data".into(),
            });
        };
        *pos += 1;
        if shift == 63 && byte > 1 {
            break;
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Error::Malformed {
        offset: start,
        what: "varint longer than 10 bytes".into(),
    })
}

/// One top-level field: its number, where it starts, and its payload.
pub(crate) enum Payload<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// Walk the top-level fields of a `Profile` message, calling `visit(field, start_offset, payload)`.
pub(crate) fn walk_fields<'a>(
    buf: &'a [u8],
    mut visit: impl FnMut(u32, usize, Payload<'a>) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut pos = 0usize;
    while pos < buf.len() {
        let start = pos;
        let key = read_varint(buf, &mut pos)?;
        let field = (key >> 3) as u32;
        let wire = key & 7;
        if field == 0 || key >> 3 > u64::from(u32::MAX >> 3) {
            return Err(Error::Malformed {
                offset: start,
                what: format!("invalid field number in key {key:#x}"),
            });
        }
        let payload = match wire {
            0 => Payload::Varint(read_varint(buf, &mut pos)?),
            1 | 5 => {
                let width = if wire == 1 { 8 } else { 4 };
                if buf.len() - pos < width {
                    return Err(Error::Malformed {
                        offset: start,
                        what: format!("field {field}: fixed-width value runs past the end"),
                    });
                }
                pos += width;
                Payload::Fixed
            }
            2 => {
                let len_offset = pos;
                let len = read_varint(buf, &mut pos)?;
                let remaining = (buf.len() - pos) as u64;
                if len > remaining {
                    return Err(Error::Malformed {
                        offset: len_offset,
                        what: format!(
                            "field {field}: length {len} but only {remaining} bytes remain"
                        ),
                    });
                }
                let bytes = &buf[pos..pos + len as usize];
                pos += len as usize;
                Payload::Bytes(bytes)
            }
            other => {
                return Err(Error::Malformed {
                    offset: start,
                    what: format!("field {field}: unsupported wire type {other}"),
                });
            }
        };
        visit(field, start, payload)?;
    }
    Ok(())
}

/// Byte offset of the `nth` (0-based) occurrence of top-level `field`; used to say where an element
/// that failed validation sits, without keeping an offset per element.
pub(crate) fn element_offset(buf: &[u8], field: u32, nth: usize) -> usize {
    let mut seen = 0usize;
    let mut found = None;
    let _ = walk_fields(buf, |f, start, _| {
        if f == field && found.is_none() {
            if seen == nth {
                found = Some(start);
            }
            seen += 1;
        }
        Ok(())
    });
    found.unwrap_or(0)
}

fn decode_message<M: Message + Default>(
    bytes: &[u8],
    what: impl FnOnce() -> String,
    offset: usize,
) -> Result<M, Error> {
    M::decode(bytes).map_err(|source| Error::Decode {
        what: what(),
        offset,
        source,
    })
}

fn check_count(what: &'static str, len: usize, limit: usize, offset: usize) -> Result<(), Error> {
    if len >= limit {
        return Err(Error::TooMany {
            what,
            limit,
            offset,
        });
    }
    Ok(())
}

fn scalar_i64(field: u32, offset: usize, payload: Payload<'_>) -> Result<i64, Error> {
    match payload {
        Payload::Varint(v) => Ok(v as i64),
        _ => Err(Error::Malformed {
            offset,
            what: format!("field {field} should be a varint"),
        }),
    }
}

/// Decode the wire format into the prost structs plus the string table as Rust strings.
fn decode_wire(buf: &[u8], limits: &Limits) -> Result<(proto::Profile, Vec<String>), Error> {
    let mut p = proto::Profile::default();
    let mut strings: Vec<String> = Vec::new();
    walk_fields(buf, |field, offset, payload| {
        match field {
            FIELD_SAMPLE_TYPE | FIELD_SAMPLE | FIELD_MAPPING | FIELD_LOCATION | FIELD_FUNCTION
            | FIELD_STRING | 11 => {
                let Payload::Bytes(bytes) = payload else {
                    return Err(Error::Malformed {
                        offset,
                        what: format!("field {field} should be length-delimited"),
                    });
                };
                match field {
                    FIELD_SAMPLE_TYPE => {
                        check_count(
                            "sample types",
                            p.sample_type.len(),
                            limits.max_sample_types,
                            offset,
                        )?;
                        let n = p.sample_type.len();
                        p.sample_type.push(decode_message(
                            bytes,
                            || format!("sample_type #{n}"),
                            offset,
                        )?);
                    }
                    FIELD_SAMPLE => {
                        check_count("samples", p.sample.len(), limits.max_samples, offset)?;
                        let n = p.sample.len();
                        p.sample
                            .push(decode_message(bytes, || format!("sample #{n}"), offset)?);
                    }
                    FIELD_MAPPING => {
                        check_count("mappings", p.mapping.len(), limits.max_mappings, offset)?;
                        let n = p.mapping.len();
                        p.mapping
                            .push(decode_message(bytes, || format!("mapping #{n}"), offset)?);
                    }
                    FIELD_LOCATION => {
                        check_count("locations", p.location.len(), limits.max_locations, offset)?;
                        let n = p.location.len();
                        p.location.push(decode_message(
                            bytes,
                            || format!("location #{n}"),
                            offset,
                        )?);
                    }
                    FIELD_FUNCTION => {
                        check_count("functions", p.function.len(), limits.max_functions, offset)?;
                        let n = p.function.len();
                        p.function.push(decode_message(
                            bytes,
                            || format!("function #{n}"),
                            offset,
                        )?);
                    }
                    FIELD_STRING => {
                        check_count("strings", strings.len(), limits.max_strings, offset)?;
                        let s = match std::str::from_utf8(bytes) {
                            Ok(s) => s.to_owned(),
                            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
                        };
                        strings.push(s);
                    }
                    _ => {
                        p.period_type =
                            Some(decode_message(bytes, || "period_type".to_string(), offset)?);
                    }
                }
            }
            7 => p.drop_frames = scalar_i64(field, offset, payload)?,
            8 => p.keep_frames = scalar_i64(field, offset, payload)?,
            9 => p.time_nanos = scalar_i64(field, offset, payload)?,
            10 => p.duration_nanos = scalar_i64(field, offset, payload)?,
            12 => p.period = scalar_i64(field, offset, payload)?,
            13 => match payload {
                Payload::Varint(v) => {
                    check_count("comments", p.comment.len(), limits.max_strings, offset)?;
                    p.comment.push(v as i64);
                }
                Payload::Bytes(mut bytes) => {
                    // Packed repeated int64.
                    while !bytes.is_empty() {
                        check_count("comments", p.comment.len(), limits.max_strings, offset)?;
                        let mut pos = 0;
                        let v = read_varint(bytes, &mut pos).map_err(|_| Error::Malformed {
                            offset,
                            what: "packed comment list ends inside a varint".into(),
                        })?;
                        p.comment.push(v as i64);
                        bytes = &bytes[pos..];
                    }
                }
                Payload::Fixed => {
                    return Err(Error::Malformed {
                        offset,
                        what: "field 13 (comment) should be a varint".into(),
                    });
                }
            },
            14 => p.default_sample_type = scalar_i64(field, offset, payload)?,
            // Unknown fields (newer profile.proto revisions) are skipped, as protobuf requires.
            _ => {}
        }
        Ok(())
    })?;
    Ok((p, strings))
}

/// Map ids to dense indices: a vector when the ids are dense (the Go runtime numbers them 1..n),
/// a hash map otherwise.
pub(crate) fn build_id_index(
    ids: impl ExactSizeIterator<Item = u64> + Clone,
    what: &'static str,
    field: u32,
    buf: &[u8],
) -> Result<IdIndex, Error> {
    let count = ids.len();
    let max_id = ids.clone().max().unwrap_or(0);
    let dense = max_id <= (count as u64).saturating_mul(2).saturating_add(16);
    if dense {
        let mut table = vec![u32::MAX; max_id as usize + 1];
        for (i, id) in ids.clone().enumerate() {
            check_id(id, i, what, field, buf)?;
            if table[id as usize] != u32::MAX {
                return Err(duplicate(id, i, what, field, buf));
            }
            table[id as usize] = i as u32;
        }
        return Ok(IdIndex::Dense(table));
    }
    let mut map = HashMap::with_capacity(count);
    for (i, id) in ids.enumerate() {
        check_id(id, i, what, field, buf)?;
        if map.insert(id, i as u32).is_some() {
            return Err(duplicate(id, i, what, field, buf));
        }
    }
    Ok(IdIndex::Sparse(map))
}

fn check_id(id: u64, i: usize, what: &'static str, field: u32, buf: &[u8]) -> Result<(), Error> {
    if id == 0 {
        return Err(Error::BadId {
            what: format!("{what} #{i}"),
            offset: element_offset(buf, field, i),
            id,
            problem: "zero (ids start at 1)",
        });
    }
    Ok(())
}

fn duplicate(id: u64, i: usize, what: &'static str, field: u32, buf: &[u8]) -> Error {
    Error::BadId {
        what: format!("{what} #{i}"),
        offset: element_offset(buf, field, i),
        id,
        problem: "used by an earlier element too",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_and_overflow() {
        let mut pos = 0;
        assert_eq!(read_varint(&[0xac, 0x02], &mut pos).unwrap(), 300);
        assert_eq!(pos, 2);
        let mut pos = 0;
        assert!(read_varint(&[0xff; 11], &mut pos).is_err());
        let mut pos = 0;
        assert!(read_varint(&[0x80], &mut pos).is_err());
        let mut pos = 0;
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read_varint(&max, &mut pos).unwrap(), u64::MAX);
    }

    #[test]
    fn gzip_bomb_is_stopped_at_the_limit() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&zeros).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert!(
            bomb.len() < 200 * 1024,
            "64 MiB of zeros compress to {} bytes",
            bomb.len()
        );
        let limits = Limits {
            max_decompressed_bytes: 8 << 20,
            ..Limits::default()
        };
        match decompress(&bomb, &limits) {
            Err(Error::DecompressedTooLarge { limit_bytes }) => assert_eq!(limit_bytes, 8 << 20),
            other => panic!(
                "expected DecompressedTooLarge, got {:?}",
                other.map(|d| d.len())
            ),
        }
    }

    #[test]
    fn length_past_end_names_the_offset() {
        // field 2 (sample), length 100, but only 1 byte follows.
        let buf = [0x12, 100, 0x00];
        match decode_wire(&buf, &Limits::default()) {
            Err(Error::Malformed { offset, what }) => {
                assert_eq!(offset, 1);
                assert!(what.contains("length 100"), "{what}");
            }
            other => panic!("unexpected {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn sample_limit_is_enforced_before_allocation() {
        let mut buf = Vec::new();
        for _ in 0..5 {
            buf.extend_from_slice(&[0x12, 0x00]);
        }
        let limits = Limits {
            max_samples: 3,
            ..Limits::default()
        };
        match decode_wire(&buf, &limits) {
            Err(Error::TooMany {
                what,
                limit,
                offset,
            }) => {
                assert_eq!((what, limit, offset), ("samples", 3, 6));
            }
            other => panic!("unexpected {:?}", other.map(|_| ())),
        }
    }
}
