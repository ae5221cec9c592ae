//! A small HPROF writer for synthetic dumps whose object graph is known by construction.

#![allow(dead_code)]

pub struct DumpWriter {
    pub id_size: u32,
    pub out: Vec<u8>,
    segment: Vec<u8>,
    next_symbol: u64,
    next_serial: u32,
    /// HEAP_DUMP_SEGMENT (0x1C, 1.0.2) or one HEAP_DUMP (0x0C, the 1.0.1 form).
    heap_tag: u8,
    /// Whether `finish` writes HEAP_DUMP_END (segmented dumps only).
    end_record: bool,
}

pub const OBJECT: u8 = 2;
pub const BYTE: u8 = 8;
pub const INT: u8 = 10;
pub const LONG: u8 = 11;

impl DumpWriter {
    pub fn new(id_size: u32) -> Self {
        Self::with_format(id_size, "JAVA PROFILE 1.0.2", true)
    }

    /// A dump with the given format string; `segmented` false writes the heap as one HEAP_DUMP
    /// record without HEAP_DUMP_END, as HPROF 1.0.1 writers do.
    pub fn with_format(id_size: u32, format: &str, segmented: bool) -> Self {
        let mut out = format.as_bytes().to_vec();
        out.push(0);
        out.extend_from_slice(&id_size.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        DumpWriter {
            id_size,
            out,
            segment: Vec::new(),
            next_symbol: 0x1000_0000,
            next_serial: 1,
            heap_tag: if segmented { 0x1C } else { 0x0C },
            end_record: segmented,
        }
    }

    fn id(&self, buf: &mut Vec<u8>, id: u64) {
        if self.id_size == 8 {
            buf.extend_from_slice(&id.to_be_bytes());
        } else {
            buf.extend_from_slice(&(id as u32).to_be_bytes());
        }
    }

    pub fn record(&mut self, tag: u8, body: &[u8]) {
        self.out.push(tag);
        self.out.extend_from_slice(&0u32.to_be_bytes());
        self.out
            .extend_from_slice(&(body.len() as u32).to_be_bytes());
        self.out.extend_from_slice(body);
    }

    pub fn symbol(&mut self, text: &str) -> u64 {
        let id = self.next_symbol;
        self.next_symbol += 8;
        let mut body = Vec::new();
        self.id(&mut body, id);
        body.extend_from_slice(text.as_bytes());
        self.record(0x01, &body);
        id
    }

    /// LOAD_CLASS + CLASS_DUMP. `fields` are (name, type) of the class's own instance fields;
    /// `statics` are (name, type, value).
    pub fn class(
        &mut self,
        id: u64,
        name: &str,
        super_id: u64,
        fields: &[(&str, u8)],
        statics: &[(&str, u8, u64)],
    ) {
        let name_id = self.symbol(name);
        let mut body = Vec::new();
        body.extend_from_slice(&self.next_serial.to_be_bytes());
        self.next_serial += 1;
        self.id(&mut body, id);
        body.extend_from_slice(&0u32.to_be_bytes());
        self.id(&mut body, name_id);
        self.record(0x02, &body);
        let field_syms: Vec<(u64, u8)> = fields.iter().map(|(n, t)| (self.symbol(n), *t)).collect();
        let static_syms: Vec<(u64, u8, u64)> = statics
            .iter()
            .map(|(n, t, v)| (self.symbol(n), *t, *v))
            .collect();
        let mut s = vec![0x20];
        self.id(&mut s, id);
        s.extend_from_slice(&0u32.to_be_bytes());
        self.id(&mut s, super_id);
        for _ in 0..5 {
            self.id(&mut s, 0);
        }
        let instance_bytes: u32 = fields.iter().map(|(_, t)| self.type_size(*t)).sum();
        s.extend_from_slice(&instance_bytes.to_be_bytes());
        s.extend_from_slice(&0u16.to_be_bytes());
        s.extend_from_slice(&(static_syms.len() as u16).to_be_bytes());
        for (n, t, v) in static_syms {
            self.id(&mut s, n);
            s.push(t);
            self.value(&mut s, t, v);
        }
        s.extend_from_slice(&(field_syms.len() as u16).to_be_bytes());
        for (n, t) in field_syms {
            self.id(&mut s, n);
            s.push(t);
        }
        self.segment.extend_from_slice(&s);
    }

    pub fn type_size(&self, t: u8) -> u32 {
        match t {
            OBJECT => self.id_size,
            4 | 8 => 1,
            5 | 9 => 2,
            6 | 10 => 4,
            _ => 8,
        }
    }

    fn value(&self, buf: &mut Vec<u8>, t: u8, v: u64) {
        match self.type_size(t) {
            1 => buf.push(v as u8),
            2 => buf.extend_from_slice(&(v as u16).to_be_bytes()),
            4 => buf.extend_from_slice(&(v as u32).to_be_bytes()),
            _ => buf.extend_from_slice(&v.to_be_bytes()),
        }
    }

    /// INSTANCE_DUMP with field values in class-then-super order, given as (type, value).
    pub fn instance(&mut self, id: u64, class_id: u64, values: &[(u8, u64)]) {
        let mut fields = Vec::new();
        for &(t, v) in values {
            self.value(&mut fields, t, v);
        }
        let mut s = vec![0x21];
        self.id(&mut s, id);
        s.extend_from_slice(&0u32.to_be_bytes());
        self.id(&mut s, class_id);
        s.extend_from_slice(&(fields.len() as u32).to_be_bytes());
        s.extend_from_slice(&fields);
        self.segment.extend_from_slice(&s);
    }

    pub fn object_array(&mut self, id: u64, class_id: u64, elements: &[u64]) {
        let mut s = vec![0x22];
        self.id(&mut s, id);
        s.extend_from_slice(&0u32.to_be_bytes());
        s.extend_from_slice(&(elements.len() as u32).to_be_bytes());
        self.id(&mut s, class_id);
        for &e in elements {
            self.id(&mut s, e);
        }
        self.segment.extend_from_slice(&s);
    }

    pub fn byte_array(&mut self, id: u64, bytes: &[u8]) {
        let mut s = vec![0x23];
        self.id(&mut s, id);
        s.extend_from_slice(&0u32.to_be_bytes());
        s.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        s.push(BYTE);
        s.extend_from_slice(bytes);
        self.segment.extend_from_slice(&s);
    }

    pub fn root_unknown(&mut self, id: u64) {
        let mut s = vec![0xFF];
        self.id(&mut s, id);
        self.segment.extend_from_slice(&s);
    }

    pub fn root_jni_global(&mut self, id: u64) {
        let mut s = vec![0x01];
        self.id(&mut s, id);
        self.id(&mut s, 0x77);
        self.segment.extend_from_slice(&s);
    }

    /// Close the current heap-dump segment.
    pub fn flush_segment(&mut self) {
        if !self.segment.is_empty() {
            let seg = std::mem::take(&mut self.segment);
            self.record(self.heap_tag, &seg);
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.flush_segment();
        if self.end_record {
            self.record(0x2C, &[]);
        }
        self.out
    }
}
