//! The streaming HPROF reader: walks records and heap sub-records once, front to back, and calls a
//! [`Visitor`]. It allocates nothing per object; the only buffers it grows are bounded by
//! [`Limits`]. Large arrays reach the visitor in chunks, so a 2 GB `byte[]` costs no more memory
//! than a small one.

use serde::Serialize;

use crate::error::{HprofError, Result, Warning, Warnings};
use crate::limits::Limits;
use crate::source::{ByteStream, Source};
use crate::types::{BasicType, RootKind, record_name, sub, sub_record_name, tag};

/// The file header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    /// `JAVA PROFILE 1.0.2` and the like.
    pub format: String,
    /// Width of object identifiers: 4 or 8.
    pub id_size: u32,
    /// When the dump was taken, ms since the epoch.
    pub timestamp_ms: u64,
}

/// A LOAD_CLASS record: binds a class object id to its name.
#[derive(Debug, Clone, Copy)]
pub struct LoadClass {
    pub serial: u32,
    pub class_id: u64,
    pub stack_serial: u32,
    pub name_id: u64,
}

/// A FRAME record: one method location used by stack traces.
#[derive(Debug, Clone, Copy)]
pub struct FrameRecord {
    pub frame_id: u64,
    pub method_name_id: u64,
    pub signature_id: u64,
    pub source_file_id: u64,
    pub class_serial: u32,
    /// > 0 line number, 0 none, -1 unknown, -2 compiled, -3 native.
    pub line: i32,
}

/// A START_THREAD record (not written by HotSpot, which uses ROOT_THREAD_OBJECT instead).
#[derive(Debug, Clone, Copy)]
pub struct ThreadStart {
    pub thread_serial: u32,
    pub thread_object_id: u64,
    pub stack_serial: u32,
    pub name_id: u64,
}

/// A GC root sub-record.
#[derive(Debug, Clone, Copy)]
pub struct GcRoot {
    pub kind: RootKind,
    pub object_id: u64,
    /// Thread the root belongs to, for thread-local kinds.
    pub thread_serial: Option<u32>,
    /// Frame depth (JNI local, Java frame) or stack trace serial (thread object).
    pub frame_or_trace: Option<u32>,
}

/// A static field of a class dump with its value (raw bits; an id for references).
#[derive(Debug, Clone, Copy)]
pub struct StaticField {
    pub name_id: u64,
    pub ty: BasicType,
    pub value: u64,
}

/// An instance field descriptor of a class dump.
#[derive(Debug, Clone, Copy)]
pub struct FieldDescriptor {
    pub name_id: u64,
    pub ty: BasicType,
}

/// A CLASS_DUMP sub-record.
#[derive(Debug, Clone, Default)]
pub struct ClassDump {
    pub class_id: u64,
    pub stack_serial: u32,
    pub super_id: u64,
    pub loader_id: u64,
    pub signers_id: u64,
    pub protection_domain_id: u64,
    /// Bytes of field data an INSTANCE_DUMP of this exact class carries (not the JVM size).
    pub hprof_instance_bytes: u32,
    /// References held in the constant pool (rare; kept as edges).
    pub constant_pool_refs: Vec<u64>,
    pub statics: Vec<StaticField>,
    /// This class's own instance fields, in dump order (super classes' are in their own dumps).
    pub fields: Vec<FieldDescriptor>,
}

/// Receives the records of a dump, in file order. Every method has a default that ignores it.
///
/// The associated constants say which bulk data the visitor needs, so a pass that needs none of it
/// skips those bytes without looking at them.
pub trait Visitor {
    /// Deliver the field bytes of each instance to [`Visitor::instance`].
    const INSTANCE_FIELDS: bool = false;

    fn header(&mut self, _header: &Header) {}
    fn utf8(&mut self, _id: u64, _text: &[u8]) {}
    fn load_class(&mut self, _record: &LoadClass) {}
    fn frame(&mut self, _record: &FrameRecord) {}
    fn trace(&mut self, _serial: u32, _thread_serial: u32, _frame_ids: &[u64]) {}
    fn thread_start(&mut self, _record: &ThreadStart) {}
    fn gc_root(&mut self, _root: &GcRoot) {}
    fn class_dump(&mut self, _offset: u64, _class: &ClassDump) {}
    /// `fields` is empty unless [`Visitor::INSTANCE_FIELDS`].
    fn instance(&mut self, _offset: u64, _id: u64, _class_id: u64, _fields: &[u8]) {}
    /// Return true to receive the element ids through [`Visitor::object_array_elements`].
    fn object_array(&mut self, _offset: u64, _id: u64, _class_id: u64, _length: u32) -> bool {
        false
    }
    /// A run of raw element ids (a multiple of the id size).
    fn object_array_elements(&mut self, _ids: &[u8]) {}
    /// Return true to receive the values through [`Visitor::primitive_array_data`].
    fn primitive_array(
        &mut self,
        _offset: u64,
        _id: u64,
        _element: BasicType,
        _length: u32,
    ) -> bool {
        false
    }
    /// A run of raw big-endian element bytes.
    fn primitive_array_data(&mut self, _bytes: &[u8]) {}
    /// The last chunk of a requested primitive array was delivered.
    fn primitive_array_end(&mut self) {}
    /// Something odd that the parse survived.
    fn warning(&mut self, _warning: &Warning) {}
}

/// What a pass saw, independent of the visitor.
#[derive(Debug, Clone, Serialize)]
pub struct ParseSummary {
    pub header: Header,
    /// Bytes read from the (decompressed) dump.
    pub bytes: u64,
    /// Count of top-level records by name.
    pub records: Vec<(&'static str, u64)>,
    /// Count of heap-dump sub-records by name.
    pub heap_records: Vec<(&'static str, u64)>,
    /// The dump ended in the middle of a record; results cover what came before.
    pub truncated: bool,
    pub warnings: Warnings,
}

enum Stop {
    Truncated { offset: u64, record: &'static str },
    Error(HprofError),
}

impl From<HprofError> for Stop {
    fn from(e: HprofError) -> Self {
        Stop::Error(e)
    }
}

type Flow<T = ()> = std::result::Result<T, Stop>;

#[inline(always)]
fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[inline(always)]
fn be_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

#[inline(always)]
fn be_u64(b: &[u8]) -> u64 {
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Read an identifier of `ID` bytes.
#[inline(always)]
pub(crate) fn read_id<const ID: usize>(b: &[u8]) -> u64 {
    if ID == 8 { be_u64(b) } else { be_u32(b) as u64 }
}

/// Read an identifier of `id_size` bytes.
#[inline]
pub fn id_at(b: &[u8], id_size: u32) -> u64 {
    if id_size == 8 {
        be_u64(b)
    } else {
        be_u32(b) as u64
    }
}

/// Raw bits of a value of type `ty` at the start of `b` (which must be long enough).
#[inline]
pub(crate) fn value_at(b: &[u8], ty: BasicType, id_size: u32) -> u64 {
    match ty.hprof_size(id_size) {
        1 => b[0] as u64,
        2 => be_u16(b) as u64,
        4 => be_u32(b) as u64,
        _ => be_u64(b),
    }
}

/// Parse the header at the start of a dump.
fn parse_header<R: ByteStream>(src: &mut Source<R>) -> Result<Header> {
    src.ensure(64)?;
    let buffered = src.buffered();
    let head = &buffered[..buffered.len().min(64)];
    let Some(nul) = head.iter().position(|&b| b == 0) else {
        return Err(HprofError::BadHeader {
            offset: 0,
            reason: "no NUL-terminated format string in the first 64 bytes".into(),
        });
    };
    let format = String::from_utf8_lossy(&head[..nul]).into_owned();
    if !format.starts_with("JAVA PROFILE 1.0") {
        return Err(HprofError::BadHeader {
            offset: 0,
            reason: format!(
                "format string is {:?}",
                format.chars().take(40).collect::<String>()
            ),
        });
    }
    if head.len() < nul + 1 + 12 {
        return Err(HprofError::BadHeader {
            offset: nul as u64 + 1,
            reason: "file ends inside the header".into(),
        });
    }
    let id_size = be_u32(&head[nul + 1..]);
    if id_size != 4 && id_size != 8 {
        return Err(HprofError::BadIdentifierSize {
            offset: nul as u64 + 1,
            size: id_size,
        });
    }
    let high = be_u32(&head[nul + 5..]) as u64;
    let low = be_u32(&head[nul + 9..]) as u64;
    src.consume(nul + 13);
    Ok(Header {
        format,
        id_size,
        timestamp_ms: (high << 32) | low,
    })
}

struct Parser<'a, R, V> {
    src: Source<R>,
    visitor: &'a mut V,
    limits: &'a Limits,
    warnings: Warnings,
    records: Box<[u64; 256]>,
    heap_records: Box<[u64; 256]>,
    unknown_tags_seen: [bool; 256],
    frames: Vec<u64>,
    class: ClassDump,
}

/// Read a whole dump from `stream`, calling `visitor` for each record.
///
/// Returns an error for input that is not a heap dump or is corrupt in a way that makes the rest
/// unreadable; a dump cut short (an interrupted `jcmd GC.heap_dump`) returns what was read with
/// `truncated` set.
pub fn parse<R: ByteStream, V: Visitor>(
    stream: R,
    limits: &Limits,
    visitor: &mut V,
) -> Result<ParseSummary> {
    let (summary, _) = parse_returning_stream(stream, limits, visitor)?;
    Ok(summary)
}

/// As [`parse`], giving the stream back (to finish a spooled copy).
pub(crate) fn parse_returning_stream<R: ByteStream, V: Visitor>(
    stream: R,
    limits: &Limits,
    visitor: &mut V,
) -> Result<(ParseSummary, R)> {
    let mut src = Source::new(stream);
    let header = parse_header(&mut src)?;
    visitor.header(&header);
    let mut parser = Parser {
        src,
        visitor,
        limits,
        warnings: Warnings::with_cap(limits.max_warnings),
        records: Box::new([0; 256]),
        heap_records: Box::new([0; 256]),
        unknown_tags_seen: [false; 256],
        frames: Vec::new(),
        class: ClassDump::default(),
    };
    let outcome = if header.id_size == 8 {
        parser.records_loop::<8>()
    } else {
        parser.records_loop::<4>()
    };
    let truncated = match outcome {
        Ok(()) => false,
        Err(Stop::Truncated { offset, record }) => {
            let end = parser.src.offset();
            parser.warn(Warning {
                offset,
                record,
                message: format!(
                    "the dump ends at byte {end} inside this record (an interrupted or partial dump): \
                     results cover the records before it"
                ),
            });
            true
        }
        Err(Stop::Error(e)) => return Err(e),
    };
    let bytes = parser.src.offset();
    let named = |counts: &[u64; 256], name: fn(u8) -> &'static str| {
        let mut out: Vec<(&'static str, u64)> = Vec::new();
        for (t, &n) in counts.iter().enumerate() {
            if n > 0 {
                let label = name(t as u8);
                match out.iter_mut().find(|(l, _)| *l == label) {
                    Some(entry) => entry.1 += n,
                    None => out.push((label, n)),
                }
            }
        }
        out
    };
    let summary = ParseSummary {
        header,
        bytes,
        records: named(&parser.records, record_name),
        heap_records: named(&parser.heap_records, sub_record_name),
        truncated,
        warnings: parser.warnings,
    };
    Ok((summary, parser.src.into_inner()))
}

impl<R: ByteStream, V: Visitor> Parser<'_, R, V> {
    fn warn(&mut self, warning: Warning) {
        self.visitor.warning(&warning);
        self.warnings.push(warning);
    }

    /// Ensure `n` contiguous bytes or report truncation of the record at `offset`.
    #[inline(always)]
    fn need(&mut self, n: usize, offset: u64, record: &'static str) -> Flow {
        if self.src.ensure(n)? {
            Ok(())
        } else {
            Err(Stop::Truncated { offset, record })
        }
    }

    fn skip_exact(&mut self, n: u64, offset: u64, record: &'static str) -> Flow {
        if self.src.skip(n)? == n {
            Ok(())
        } else {
            Err(Stop::Truncated { offset, record })
        }
    }

    fn check_contiguous(&self, n: u64, offset: u64, what: &'static str) -> Flow<usize> {
        let limit = self.limits.max_contiguous_bytes as u64;
        if n > limit {
            return Err(Stop::Error(HprofError::LimitExceeded {
                offset,
                what,
                value: n,
                limit,
                field: "max_contiguous_bytes",
            }));
        }
        Ok(n as usize)
    }

    fn records_loop<const ID: usize>(&mut self) -> Flow {
        loop {
            let offset = self.src.offset();
            if !self.src.ensure(9)? {
                if self.src.at_end()? {
                    return Ok(());
                }
                return Err(Stop::Truncated {
                    offset,
                    record: "record header",
                });
            }
            let head = self.src.peek(9);
            let t = head[0];
            let length = be_u32(&head[5..]) as u64;
            self.src.consume(9);
            self.records[t as usize] += 1;
            let name = record_name(t);
            match t {
                tag::HEAP_DUMP | tag::HEAP_DUMP_SEGMENT => {
                    self.heap_segment::<ID>(offset, length)?
                }
                tag::UTF8 => {
                    if length < ID as u64 {
                        self.bad_length(offset, name, length)?;
                        continue;
                    }
                    let n = self.check_contiguous(length, offset, "UTF8 record length")?;
                    self.need(n, offset, name)?;
                    let body = self.src.peek(n);
                    self.visitor.utf8(read_id::<ID>(body), &body[ID..]);
                    self.src.consume(n);
                }
                tag::LOAD_CLASS => {
                    let n = 4 + ID + 4 + ID;
                    if length < n as u64 {
                        self.bad_length(offset, name, length)?;
                        continue;
                    }
                    self.need(n, offset, name)?;
                    let b = self.src.peek(n);
                    let record = LoadClass {
                        serial: be_u32(b),
                        class_id: read_id::<ID>(&b[4..]),
                        stack_serial: be_u32(&b[4 + ID..]),
                        name_id: read_id::<ID>(&b[8 + ID..]),
                    };
                    self.src.consume(n);
                    self.visitor.load_class(&record);
                    self.skip_exact(length - n as u64, offset, name)?;
                }
                tag::FRAME => {
                    let n = 4 * ID + 8;
                    if length < n as u64 {
                        self.bad_length(offset, name, length)?;
                        continue;
                    }
                    self.need(n, offset, name)?;
                    let b = self.src.peek(n);
                    let record = FrameRecord {
                        frame_id: read_id::<ID>(b),
                        method_name_id: read_id::<ID>(&b[ID..]),
                        signature_id: read_id::<ID>(&b[2 * ID..]),
                        source_file_id: read_id::<ID>(&b[3 * ID..]),
                        class_serial: be_u32(&b[4 * ID..]),
                        line: be_u32(&b[4 * ID + 4..]) as i32,
                    };
                    self.src.consume(n);
                    self.visitor.frame(&record);
                    self.skip_exact(length - n as u64, offset, name)?;
                }
                tag::TRACE => {
                    if length < 12 {
                        self.bad_length(offset, name, length)?;
                        continue;
                    }
                    self.need(12, offset, name)?;
                    let b = self.src.peek(12);
                    let serial = be_u32(b);
                    let thread_serial = be_u32(&b[4..]);
                    let declared = be_u32(&b[8..]) as u64;
                    self.src.consume(12);
                    // Trust the record length over the frame count: never read past the record.
                    let fitting = (length - 12) / ID as u64;
                    let count = declared
                        .min(fitting)
                        .min(self.limits.max_frames_per_trace as u64)
                        as usize;
                    let n = count * ID;
                    self.need(n, offset, name)?;
                    self.frames.clear();
                    self.frames
                        .extend(self.src.peek(n).chunks_exact(ID).map(read_id::<ID>));
                    self.src.consume(n);
                    self.visitor.trace(serial, thread_serial, &self.frames);
                    self.skip_exact(length - 12 - n as u64, offset, name)?;
                }
                tag::START_THREAD => {
                    let n = 4 + ID + 4 + 3 * ID;
                    if length < n as u64 {
                        self.bad_length(offset, name, length)?;
                        continue;
                    }
                    self.need(n, offset, name)?;
                    let b = self.src.peek(n);
                    let record = ThreadStart {
                        thread_serial: be_u32(b),
                        thread_object_id: read_id::<ID>(&b[4..]),
                        stack_serial: be_u32(&b[4 + ID..]),
                        name_id: read_id::<ID>(&b[8 + ID..]),
                    };
                    self.src.consume(n);
                    self.visitor.thread_start(&record);
                    self.skip_exact(length - n as u64, offset, name)?;
                }
                tag::UNLOAD_CLASS
                | tag::END_THREAD
                | tag::ALLOC_SITES
                | tag::HEAP_SUMMARY
                | tag::CPU_SAMPLES
                | tag::CONTROL_SETTINGS
                | tag::HEAP_DUMP_END => self.skip_exact(length, offset, name)?,
                _ => {
                    if !self.unknown_tags_seen[t as usize] {
                        self.unknown_tags_seen[t as usize] = true;
                        self.warn(Warning {
                            offset,
                            record: "unknown record",
                            message: format!(
                                "tag 0x{t:02x} is not an HPROF record tag; skipped {length} bytes"
                            ),
                        });
                    }
                    self.skip_exact(length, offset, "unknown record")?;
                }
            }
        }
    }

    /// A record too short for its fixed fields: warn and skip what its length says.
    fn bad_length(&mut self, offset: u64, record: &'static str, length: u64) -> Flow {
        self.warn(Warning {
            offset,
            record,
            message: format!("length {length} is too short for this record; skipped"),
        });
        self.skip_exact(length, offset, record)
    }

    fn heap_segment<const ID: usize>(&mut self, segment_offset: u64, length: u64) -> Flow {
        let end = self.src.offset() + length;
        while self.src.offset() < end {
            let offset = self.src.offset();
            let remaining = end - offset;
            self.need(1, offset, "heap sub-record")?;
            let t = self.src.peek(1)[0];
            self.heap_records[t as usize] += 1;
            match t {
                sub::INSTANCE_DUMP => {
                    const NAME: &str = "INSTANCE_DUMP";
                    let h = 1 + ID + 4 + ID + 4;
                    self.fits(h as u64, remaining, offset, NAME)?;
                    self.need(h, offset, NAME)?;
                    let b = self.src.peek(h);
                    let id = read_id::<ID>(&b[1..]);
                    let class_id = read_id::<ID>(&b[1 + ID + 4..]);
                    let n = be_u32(&b[1 + 2 * ID + 4..]) as u64;
                    self.src.consume(h);
                    self.fits(n, remaining - h as u64, offset, NAME)?;
                    if V::INSTANCE_FIELDS {
                        let n = self.check_contiguous(n, offset, "instance field bytes")?;
                        self.need(n, offset, NAME)?;
                        let fields = self.src.peek(n);
                        self.visitor.instance(offset, id, class_id, fields);
                        self.src.consume(n);
                    } else {
                        self.visitor.instance(offset, id, class_id, &[]);
                        self.skip_exact(n, offset, NAME)?;
                    }
                }
                sub::OBJECT_ARRAY_DUMP => {
                    const NAME: &str = "OBJ_ARRAY_DUMP";
                    let h = 1 + ID + 4 + 4 + ID;
                    self.fits(h as u64, remaining, offset, NAME)?;
                    self.need(h, offset, NAME)?;
                    let b = self.src.peek(h);
                    let id = read_id::<ID>(&b[1..]);
                    let length = be_u32(&b[1 + ID + 4..]);
                    let class_id = read_id::<ID>(&b[1 + ID + 8..]);
                    self.src.consume(h);
                    let n = length as u64 * ID as u64;
                    self.fits(n, remaining - h as u64, offset, NAME)?;
                    if self.visitor.object_array(offset, id, class_id, length) {
                        let mut left = n;
                        while left > 0 {
                            if !self.src.ensure(ID)? {
                                return Err(Stop::Truncated {
                                    offset,
                                    record: NAME,
                                });
                            }
                            let chunk = self.src.chunk(left)?;
                            let take = chunk.len() - chunk.len() % ID;
                            self.visitor.object_array_elements(&chunk[..take]);
                            self.src.consume(take);
                            left -= take as u64;
                        }
                    } else {
                        self.skip_exact(n, offset, NAME)?;
                    }
                }
                sub::PRIMITIVE_ARRAY_DUMP => {
                    const NAME: &str = "PRIM_ARRAY_DUMP";
                    let h = 1 + ID + 4 + 4 + 1;
                    self.fits(h as u64, remaining, offset, NAME)?;
                    self.need(h, offset, NAME)?;
                    let b = self.src.peek(h);
                    let id = read_id::<ID>(&b[1..]);
                    let length = be_u32(&b[1 + ID + 4..]);
                    let type_byte = b[1 + ID + 8];
                    self.src.consume(h);
                    let Some(element) =
                        BasicType::from_u8(type_byte).filter(|t| *t != BasicType::Object)
                    else {
                        return Err(Stop::Error(HprofError::malformed(
                            offset,
                            NAME,
                            format!("element type {type_byte} is not a primitive type (4..=11)"),
                        )));
                    };
                    let n = length as u64 * element.hprof_size(ID as u32) as u64;
                    self.fits(n, remaining - h as u64, offset, NAME)?;
                    if self.visitor.primitive_array(offset, id, element, length) {
                        let mut left = n;
                        while left > 0 {
                            if !self.src.ensure(1)? {
                                return Err(Stop::Truncated {
                                    offset,
                                    record: NAME,
                                });
                            }
                            let chunk = self.src.chunk(left)?;
                            let take = chunk.len();
                            self.visitor.primitive_array_data(chunk);
                            self.src.consume(take);
                            left -= take as u64;
                        }
                        self.visitor.primitive_array_end();
                    } else {
                        self.skip_exact(n, offset, NAME)?;
                    }
                }
                sub::CLASS_DUMP => self.class_dump::<ID>(offset, remaining)?,
                sub::ROOT_UNKNOWN | sub::ROOT_STICKY_CLASS | sub::ROOT_MONITOR_USED => {
                    let kind = match t {
                        sub::ROOT_UNKNOWN => RootKind::Unknown,
                        sub::ROOT_STICKY_CLASS => RootKind::StickyClass,
                        _ => RootKind::MonitorUsed,
                    };
                    self.root::<ID>(offset, remaining, t, kind, 0)?;
                }
                sub::ROOT_JNI_GLOBAL => {
                    // object id + JNI global ref id
                    self.root::<ID>(offset, remaining, t, RootKind::JniGlobal, ID)?;
                }
                sub::ROOT_JNI_LOCAL | sub::ROOT_JAVA_FRAME | sub::ROOT_THREAD_OBJECT => {
                    let kind = match t {
                        sub::ROOT_JNI_LOCAL => RootKind::JniLocal,
                        sub::ROOT_JAVA_FRAME => RootKind::JavaFrame,
                        _ => RootKind::ThreadObject,
                    };
                    let name = sub_record_name(t);
                    let n = 1 + ID + 8;
                    self.fits(n as u64, remaining, offset, name)?;
                    self.need(n, offset, name)?;
                    let b = self.src.peek(n);
                    let root = GcRoot {
                        kind,
                        object_id: read_id::<ID>(&b[1..]),
                        thread_serial: Some(be_u32(&b[1 + ID..])),
                        frame_or_trace: Some(be_u32(&b[1 + ID + 4..])),
                    };
                    self.src.consume(n);
                    self.visitor.gc_root(&root);
                }
                sub::ROOT_NATIVE_STACK | sub::ROOT_THREAD_BLOCK => {
                    let kind = if t == sub::ROOT_NATIVE_STACK {
                        RootKind::NativeStack
                    } else {
                        RootKind::ThreadBlock
                    };
                    let name = sub_record_name(t);
                    let n = 1 + ID + 4;
                    self.fits(n as u64, remaining, offset, name)?;
                    self.need(n, offset, name)?;
                    let b = self.src.peek(n);
                    let root = GcRoot {
                        kind,
                        object_id: read_id::<ID>(&b[1..]),
                        thread_serial: Some(be_u32(&b[1 + ID..])),
                        frame_or_trace: None,
                    };
                    self.src.consume(n);
                    self.visitor.gc_root(&root);
                }
                sub::ROOT_INTERNED_STRING
                | sub::ROOT_FINALIZING
                | sub::ROOT_DEBUGGER
                | sub::ROOT_REFERENCE_CLEANUP
                | sub::ROOT_VM_INTERNAL
                | sub::UNREACHABLE => self.root::<ID>(offset, remaining, t, RootKind::Other, 0)?,
                sub::ROOT_JNI_MONITOR => {
                    self.root::<ID>(offset, remaining, t, RootKind::Other, 8)?
                }
                sub::HEAP_DUMP_INFO => {
                    let n = 1 + 4 + ID;
                    self.fits(n as u64, remaining, offset, "HEAP_DUMP_INFO")?;
                    self.skip_exact(n as u64, offset, "HEAP_DUMP_INFO")?;
                }
                sub::PRIMITIVE_ARRAY_NODATA => {
                    let n = 1 + ID + 4 + 4 + 1;
                    self.fits(n as u64, remaining, offset, "PRIM_ARRAY_NODATA")?;
                    self.skip_exact(n as u64, offset, "PRIM_ARRAY_NODATA")?;
                }
                _ => {
                    // Sub-records carry no length: an unknown one makes the rest of the segment
                    // unreadable. Skip to the next top-level record and keep going.
                    self.warn(Warning {
                        offset,
                        record: "heap sub-record",
                        message: format!(
                            "unknown sub-record tag 0x{t:02x} in the heap-dump segment that starts at byte \
                             {segment_offset}; skipped the remaining {remaining} bytes of that segment, so objects \
                             in them are missing from the results"
                        ),
                    });
                    self.skip_exact(remaining, offset, "heap sub-record")?;
                }
            }
        }
        Ok(())
    }

    /// A sub-record must fit in what is left of its segment.
    #[inline(always)]
    fn fits(&self, n: u64, remaining: u64, offset: u64, record: &'static str) -> Flow {
        if n <= remaining {
            Ok(())
        } else {
            Err(Stop::Error(HprofError::malformed(
                offset,
                record,
                format!("needs {n} bytes but its heap-dump segment has only {remaining} left"),
            )))
        }
    }

    fn root<const ID: usize>(
        &mut self,
        offset: u64,
        remaining: u64,
        t: u8,
        kind: RootKind,
        extra: usize,
    ) -> Flow {
        let name = sub_record_name(t);
        let n = 1 + ID + extra;
        self.fits(n as u64, remaining, offset, name)?;
        self.need(n, offset, name)?;
        let root = GcRoot {
            kind,
            object_id: read_id::<ID>(&self.src.peek(n)[1..]),
            thread_serial: None,
            frame_or_trace: None,
        };
        self.src.consume(n);
        self.visitor.gc_root(&root);
        Ok(())
    }

    /// Take `n` bytes of a class dump, checking the segment bound.
    fn class_bytes(
        &mut self,
        n: usize,
        used: &mut u64,
        remaining: u64,
        offset: u64,
    ) -> Flow<&[u8]> {
        const NAME: &str = "CLASS_DUMP";
        self.fits(*used + n as u64, remaining, offset, NAME)?;
        *used += n as u64;
        self.need(n, offset, NAME)?;
        Ok(self.src.peek(n))
    }

    fn class_dump<const ID: usize>(&mut self, offset: u64, remaining: u64) -> Flow {
        let mut class = std::mem::take(&mut self.class);
        class.constant_pool_refs.clear();
        class.statics.clear();
        class.fields.clear();
        let mut used = 0u64;
        let h = 1 + ID + 4 + 6 * ID + 4 + 2;
        let b = self.class_bytes(h, &mut used, remaining, offset)?;
        class.class_id = read_id::<ID>(&b[1..]);
        class.stack_serial = be_u32(&b[1 + ID..]);
        class.super_id = read_id::<ID>(&b[5 + ID..]);
        class.loader_id = read_id::<ID>(&b[5 + 2 * ID..]);
        class.signers_id = read_id::<ID>(&b[5 + 3 * ID..]);
        class.protection_domain_id = read_id::<ID>(&b[5 + 4 * ID..]);
        class.hprof_instance_bytes = be_u32(&b[5 + 7 * ID..]);
        let constants = be_u16(&b[9 + 7 * ID..]);
        self.src.consume(h);
        for _ in 0..constants {
            let b = self.class_bytes(3, &mut used, remaining, offset)?;
            let type_byte = b[2];
            self.src.consume(3);
            let ty = self.field_type(type_byte, offset, "constant pool entry")?;
            let n = ty.hprof_size(ID as u32) as usize;
            let b = self.class_bytes(n, &mut used, remaining, offset)?;
            if ty == BasicType::Object {
                class.constant_pool_refs.push(read_id::<ID>(b));
            }
            self.src.consume(n);
        }
        let b = self.class_bytes(2, &mut used, remaining, offset)?;
        let statics = be_u16(b);
        self.src.consume(2);
        for _ in 0..statics {
            let b = self.class_bytes(ID + 1, &mut used, remaining, offset)?;
            let name_id = read_id::<ID>(b);
            let type_byte = b[ID];
            self.src.consume(ID + 1);
            let ty = self.field_type(type_byte, offset, "static field")?;
            let n = ty.hprof_size(ID as u32) as usize;
            let b = self.class_bytes(n, &mut used, remaining, offset)?;
            let value = value_at(b, ty, ID as u32);
            self.src.consume(n);
            class.statics.push(StaticField { name_id, ty, value });
        }
        let b = self.class_bytes(2, &mut used, remaining, offset)?;
        let fields = be_u16(b);
        self.src.consume(2);
        for _ in 0..fields {
            let b = self.class_bytes(ID + 1, &mut used, remaining, offset)?;
            let name_id = read_id::<ID>(b);
            let type_byte = b[ID];
            self.src.consume(ID + 1);
            let ty = self.field_type(type_byte, offset, "instance field")?;
            class.fields.push(FieldDescriptor { name_id, ty });
        }
        self.visitor.class_dump(offset, &class);
        self.class = class;
        Ok(())
    }

    fn field_type(&self, type_byte: u8, offset: u64, what: &str) -> Flow<BasicType> {
        BasicType::from_u8(type_byte).ok_or_else(|| {
            Stop::Error(HprofError::malformed(
                offset,
                "CLASS_DUMP",
                format!("{what} has type byte {type_byte}, which is not an HPROF basic type"),
            ))
        })
    }
}
