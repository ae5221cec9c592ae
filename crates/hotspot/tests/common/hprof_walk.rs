//! A small, independent walker over HPROF framing, for tests: checks the header, that every
//! top-level record and every heap-dump sub-record is well formed and fills its container
//! exactly, and counts instances per class name. Deliberately separate from the `hprof` crate so
//! the attach tests do not depend on the parser they may be used to check.

#![allow(dead_code)]

use std::collections::HashMap;

/// What the walk found.
#[derive(Debug, Default)]
pub struct WalkSummary {
    pub version: String,
    pub id_size: usize,
    pub top_level_records: u64,
    pub heap_dump_segments: u64,
    pub sub_records: u64,
    pub ended_with_heap_dump_end: bool,
    /// Instance counts by class name in HPROF spelling (`java/lang/String`).
    pub instances_by_class: HashMap<String, u64>,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    id_size: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() - self.pos < n {
            return Err(format!(
                "need {n} bytes at offset {}, only {} left",
                self.pos,
                self.bytes.len() - self.pos
            ));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }
    fn u1(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u2(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u4(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn id(&mut self) -> Result<u64, String> {
        let b = self.take(self.id_size)?;
        Ok(b.iter().fold(0u64, |acc, x| (acc << 8) | *x as u64))
    }
}

fn type_size(t: u8, id_size: usize) -> Result<usize, String> {
    Ok(match t {
        2 => id_size,
        4 | 8 => 1,
        5 | 9 => 2,
        6 | 10 => 4,
        7 | 11 => 8,
        other => return Err(format!("unknown basic type {other}")),
    })
}

/// Walk a complete HPROF file.
pub fn walk(bytes: &[u8]) -> Result<WalkSummary, String> {
    let nul = bytes
        .iter()
        .take(32)
        .position(|b| *b == 0)
        .ok_or("no NUL-terminated header in the first 32 bytes")?;
    let version = String::from_utf8_lossy(&bytes[..nul]).into_owned();
    if !version.starts_with("JAVA PROFILE 1.0.") {
        return Err(format!("unexpected header {version:?}"));
    }
    let mut c = Cursor {
        bytes,
        pos: nul + 1,
        id_size: 4,
    };
    let id_size = c.u4()? as usize;
    if id_size != 4 && id_size != 8 {
        return Err(format!("identifier size {id_size}"));
    }
    c.id_size = id_size;
    c.take(8)?; // timestamp
    let mut summary = WalkSummary {
        version,
        id_size,
        ..Default::default()
    };
    let mut strings: HashMap<u64, String> = HashMap::new();
    let mut class_names: HashMap<u64, u64> = HashMap::new(); // class object id -> name string id
    let mut instances_by_class_id: HashMap<u64, u64> = HashMap::new();
    while c.pos < bytes.len() {
        if summary.ended_with_heap_dump_end {
            return Err(format!("record after HEAP_DUMP_END at offset {}", c.pos));
        }
        let start = c.pos;
        let tag = c.u1()?;
        c.u4()?; // time
        let len = c.u4()? as usize;
        let body = c
            .take(len)
            .map_err(|e| format!("record tag {tag:#x} at offset {start}: {e}"))?;
        summary.top_level_records += 1;
        let mut r = Cursor {
            bytes: body,
            pos: 0,
            id_size,
        };
        match tag {
            0x01 => {
                let id = r.id()?;
                strings.insert(id, String::from_utf8_lossy(&body[id_size..]).into_owned());
            }
            0x02 => {
                r.u4()?;
                let class_id = r.id()?;
                r.u4()?;
                let name_id = r.id()?;
                class_names.insert(class_id, name_id);
            }
            0x03..=0x07 | 0x0A | 0x0B | 0x0D | 0x0E => {}
            0x0C | 0x1C => {
                summary.heap_dump_segments += 1;
                walk_heap_segment(&mut r, &mut summary, &mut instances_by_class_id)
                    .map_err(|e| format!("heap dump segment at offset {start}: {e}"))?;
            }
            0x2C => summary.ended_with_heap_dump_end = true,
            other => {
                return Err(format!(
                    "unknown top-level tag {other:#x} at offset {start}"
                ));
            }
        }
    }
    for (class_id, count) in instances_by_class_id {
        let name = class_names
            .get(&class_id)
            .and_then(|n| strings.get(n))
            .cloned()
            .unwrap_or_else(|| format!("<class {class_id:#x}>"));
        *summary.instances_by_class.entry(name).or_default() += count;
    }
    Ok(summary)
}

fn walk_heap_segment(
    r: &mut Cursor<'_>,
    s: &mut WalkSummary,
    instances: &mut HashMap<u64, u64>,
) -> Result<(), String> {
    let id = r.id_size;
    while r.pos < r.bytes.len() {
        let at = r.pos;
        let sub = r.u1()?;
        s.sub_records += 1;
        match sub {
            0xFF | 0x05 | 0x07 => {
                r.id()?;
            }
            0x01 => {
                r.id()?;
                r.id()?;
            }
            0x02 | 0x03 | 0x08 => {
                r.id()?;
                r.u4()?;
                r.u4()?;
            }
            0x04 | 0x06 => {
                r.id()?;
                r.u4()?;
            }
            0x20 => {
                r.take(id + 4 + 6 * id)?; // class id, stack serial, super, loader, signers, domain, 2 reserved
                r.u4()?; // instance size
                for _ in 0..r.u2()? {
                    r.u2()?;
                    let t = r.u1()?;
                    r.take(type_size(t, id)?)?;
                }
                for _ in 0..r.u2()? {
                    r.id()?;
                    let t = r.u1()?;
                    r.take(type_size(t, id)?)?;
                }
                for _ in 0..r.u2()? {
                    r.id()?;
                    type_size(r.u1()?, id)?;
                }
            }
            0x21 => {
                r.id()?;
                r.u4()?;
                let class_id = r.id()?;
                let n = r.u4()? as usize;
                r.take(n)?;
                *instances.entry(class_id).or_default() += 1;
            }
            0x22 => {
                r.id()?;
                r.u4()?;
                let n = r.u4()? as usize;
                r.id()?;
                r.take(n.checked_mul(id).ok_or("array length overflow")?)?;
            }
            0x23 => {
                r.id()?;
                r.u4()?;
                let n = r.u4()? as usize;
                let t = r.u1()?;
                r.take(
                    n.checked_mul(type_size(t, id)?)
                        .ok_or("array length overflow")?,
                )?;
            }
            other => {
                return Err(format!(
                    "unknown sub-record {other:#x} at offset {at} of the segment"
                ));
            }
        }
    }
    Ok(())
}
