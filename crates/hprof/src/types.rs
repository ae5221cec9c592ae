//! Constants of the HPROF format: record tags, basic types, GC root kinds.

use serde::Serialize;

/// Top-level record tags.
pub(crate) mod tag {
    pub const UTF8: u8 = 0x01;
    pub const LOAD_CLASS: u8 = 0x02;
    pub const UNLOAD_CLASS: u8 = 0x03;
    pub const FRAME: u8 = 0x04;
    pub const TRACE: u8 = 0x05;
    pub const ALLOC_SITES: u8 = 0x06;
    pub const HEAP_SUMMARY: u8 = 0x07;
    pub const START_THREAD: u8 = 0x0A;
    pub const END_THREAD: u8 = 0x0B;
    pub const HEAP_DUMP: u8 = 0x0C;
    pub const CPU_SAMPLES: u8 = 0x0D;
    pub const CONTROL_SETTINGS: u8 = 0x0E;
    pub const HEAP_DUMP_SEGMENT: u8 = 0x1C;
    pub const HEAP_DUMP_END: u8 = 0x2C;
}

/// Heap-dump sub-record tags.
pub(crate) mod sub {
    pub const ROOT_UNKNOWN: u8 = 0xFF;
    pub const ROOT_JNI_GLOBAL: u8 = 0x01;
    pub const ROOT_JNI_LOCAL: u8 = 0x02;
    pub const ROOT_JAVA_FRAME: u8 = 0x03;
    pub const ROOT_NATIVE_STACK: u8 = 0x04;
    pub const ROOT_STICKY_CLASS: u8 = 0x05;
    pub const ROOT_THREAD_BLOCK: u8 = 0x06;
    pub const ROOT_MONITOR_USED: u8 = 0x07;
    pub const ROOT_THREAD_OBJECT: u8 = 0x08;
    pub const CLASS_DUMP: u8 = 0x20;
    pub const INSTANCE_DUMP: u8 = 0x21;
    pub const OBJECT_ARRAY_DUMP: u8 = 0x22;
    pub const PRIMITIVE_ARRAY_DUMP: u8 = 0x23;
    // Android extensions, accepted so such dumps parse.
    pub const HEAP_DUMP_INFO: u8 = 0xFE;
    pub const ROOT_INTERNED_STRING: u8 = 0x89;
    pub const ROOT_FINALIZING: u8 = 0x8A;
    pub const ROOT_DEBUGGER: u8 = 0x8B;
    pub const ROOT_REFERENCE_CLEANUP: u8 = 0x8C;
    pub const ROOT_VM_INTERNAL: u8 = 0x8D;
    pub const ROOT_JNI_MONITOR: u8 = 0x8E;
    pub const UNREACHABLE: u8 = 0x90;
    pub const PRIMITIVE_ARRAY_NODATA: u8 = 0xC3;
}

/// Name of a top-level record tag, for messages.
pub(crate) fn record_name(tag: u8) -> &'static str {
    match tag {
        tag::UTF8 => "UTF8",
        tag::LOAD_CLASS => "LOAD_CLASS",
        tag::UNLOAD_CLASS => "UNLOAD_CLASS",
        tag::FRAME => "FRAME",
        tag::TRACE => "TRACE",
        tag::ALLOC_SITES => "ALLOC_SITES",
        tag::HEAP_SUMMARY => "HEAP_SUMMARY",
        tag::START_THREAD => "START_THREAD",
        tag::END_THREAD => "END_THREAD",
        tag::HEAP_DUMP => "HEAP_DUMP",
        tag::CPU_SAMPLES => "CPU_SAMPLES",
        tag::CONTROL_SETTINGS => "CONTROL_SETTINGS",
        tag::HEAP_DUMP_SEGMENT => "HEAP_DUMP_SEGMENT",
        tag::HEAP_DUMP_END => "HEAP_DUMP_END",
        _ => "unknown record",
    }
}

/// Name of a heap-dump sub-record tag, for messages.
pub(crate) fn sub_record_name(tag: u8) -> &'static str {
    match tag {
        sub::ROOT_UNKNOWN => "ROOT_UNKNOWN",
        sub::ROOT_JNI_GLOBAL => "ROOT_JNI_GLOBAL",
        sub::ROOT_JNI_LOCAL => "ROOT_JNI_LOCAL",
        sub::ROOT_JAVA_FRAME => "ROOT_JAVA_FRAME",
        sub::ROOT_NATIVE_STACK => "ROOT_NATIVE_STACK",
        sub::ROOT_STICKY_CLASS => "ROOT_STICKY_CLASS",
        sub::ROOT_THREAD_BLOCK => "ROOT_THREAD_BLOCK",
        sub::ROOT_MONITOR_USED => "ROOT_MONITOR_USED",
        sub::ROOT_THREAD_OBJECT => "ROOT_THREAD_OBJECT",
        sub::CLASS_DUMP => "CLASS_DUMP",
        sub::INSTANCE_DUMP => "INSTANCE_DUMP",
        sub::OBJECT_ARRAY_DUMP => "OBJ_ARRAY_DUMP",
        sub::PRIMITIVE_ARRAY_DUMP => "PRIM_ARRAY_DUMP",
        _ => "heap sub-record",
    }
}

/// HPROF basic types of fields and array elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BasicType {
    Object,
    Boolean,
    Char,
    Float,
    Double,
    Byte,
    Short,
    Int,
    Long,
}

impl BasicType {
    /// Decode a type byte.
    pub fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            2 => BasicType::Object,
            4 => BasicType::Boolean,
            5 => BasicType::Char,
            6 => BasicType::Float,
            7 => BasicType::Double,
            8 => BasicType::Byte,
            9 => BasicType::Short,
            10 => BasicType::Int,
            11 => BasicType::Long,
            _ => return None,
        })
    }

    /// Bytes a value of this type takes in the dump (`id_size` for references).
    #[inline]
    pub fn hprof_size(self, id_size: u32) -> u32 {
        match self {
            BasicType::Object => id_size,
            BasicType::Boolean | BasicType::Byte => 1,
            BasicType::Char | BasicType::Short => 2,
            BasicType::Float | BasicType::Int => 4,
            BasicType::Double | BasicType::Long => 8,
        }
    }

    /// Bytes a primitive of this type takes in a JVM object (`reference_bytes` for references).
    #[inline]
    pub fn jvm_size(self, reference_bytes: u32) -> u32 {
        self.hprof_size(reference_bytes)
    }

    /// The Java keyword (`int`), or `Object` for references.
    pub fn java_name(self) -> &'static str {
        match self {
            BasicType::Object => "java.lang.Object",
            BasicType::Boolean => "boolean",
            BasicType::Char => "char",
            BasicType::Float => "float",
            BasicType::Double => "double",
            BasicType::Byte => "byte",
            BasicType::Short => "short",
            BasicType::Int => "int",
            BasicType::Long => "long",
        }
    }

    /// Name of the array class with this element type, in Java source form (`byte[]`).
    pub fn array_class_name(self) -> &'static str {
        match self {
            BasicType::Object => "java.lang.Object[]",
            BasicType::Boolean => "boolean[]",
            BasicType::Char => "char[]",
            BasicType::Float => "float[]",
            BasicType::Double => "double[]",
            BasicType::Byte => "byte[]",
            BasicType::Short => "short[]",
            BasicType::Int => "int[]",
            BasicType::Long => "long[]",
        }
    }

    /// Dense index 0..9 for per-type tables.
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }

    /// All types, in [`BasicType::index`] order.
    pub const ALL: [BasicType; 9] = [
        BasicType::Object,
        BasicType::Boolean,
        BasicType::Char,
        BasicType::Float,
        BasicType::Double,
        BasicType::Byte,
        BasicType::Short,
        BasicType::Int,
        BasicType::Long,
    ];
}

/// Kinds of GC roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RootKind {
    Unknown,
    JniGlobal,
    JniLocal,
    JavaFrame,
    NativeStack,
    StickyClass,
    ThreadBlock,
    MonitorUsed,
    ThreadObject,
    /// Android and other producers' extra root kinds.
    Other,
}

impl RootKind {
    /// Human name as tools print it.
    pub fn name(self) -> &'static str {
        match self {
            RootKind::Unknown => "unknown",
            RootKind::JniGlobal => "JNI global",
            RootKind::JniLocal => "JNI local",
            RootKind::JavaFrame => "Java frame",
            RootKind::NativeStack => "native stack",
            RootKind::StickyClass => "sticky class",
            RootKind::ThreadBlock => "thread block",
            RootKind::MonitorUsed => "busy monitor",
            RootKind::ThreadObject => "thread",
            RootKind::Other => "other",
        }
    }

    /// Dense index for per-kind tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// All kinds, in [`RootKind::index`] order.
    pub const ALL: [RootKind; 10] = [
        RootKind::Unknown,
        RootKind::JniGlobal,
        RootKind::JniLocal,
        RootKind::JavaFrame,
        RootKind::NativeStack,
        RootKind::StickyClass,
        RootKind::ThreadBlock,
        RootKind::MonitorUsed,
        RootKind::ThreadObject,
        RootKind::Other,
    ];
}

/// Convert a JVM class name (`java/util/HashMap$Node`, `[B`, `[[Ljava/lang/String;`) to Java
/// source form (`java.util.HashMap$Node`, `byte[]`, `java.lang.String[][]`).
pub fn java_class_name(internal: &str) -> String {
    // Hidden classes (lambdas) end in `+0x…` inside the JVM and `/0x…` in its messages.
    if let Some(at) = internal.rfind("+0x").or_else(|| internal.rfind("/0x"))
        && internal[at + 3..].bytes().all(|b| b.is_ascii_hexdigit())
        && at + 3 < internal.len()
    {
        return format!(
            "{}/{}",
            java_class_name(&internal[..at]),
            &internal[at + 1..]
        );
    }
    let dims = internal.bytes().take_while(|&b| b == b'[').count();
    if dims == 0 {
        return internal.replace('/', ".");
    }
    let rest = &internal[dims..];
    let base: String = match rest.as_bytes().first() {
        Some(b'L') => rest[1..].trim_end_matches(';').replace('/', "."),
        Some(b'Z') if rest.len() == 1 => "boolean".into(),
        Some(b'C') if rest.len() == 1 => "char".into(),
        Some(b'F') if rest.len() == 1 => "float".into(),
        Some(b'D') if rest.len() == 1 => "double".into(),
        Some(b'B') if rest.len() == 1 => "byte".into(),
        Some(b'S') if rest.len() == 1 => "short".into(),
        Some(b'I') if rest.len() == 1 => "int".into(),
        Some(b'J') if rest.len() == 1 => "long".into(),
        _ => rest.replace('/', "."),
    };
    let mut out = base;
    for _ in 0..dims {
        out.push_str("[]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_in_source_form() {
        assert_eq!(
            java_class_name("java/util/HashMap$Node"),
            "java.util.HashMap$Node"
        );
        assert_eq!(java_class_name("[B"), "byte[]");
        assert_eq!(java_class_name("[[I"), "int[][]");
        assert_eq!(java_class_name("[Ljava/lang/Object;"), "java.lang.Object[]");
        assert_eq!(
            java_class_name("[[Ljava/lang/String;"),
            "java.lang.String[][]"
        );
        assert_eq!(java_class_name("java.lang.String"), "java.lang.String");
        assert_eq!(
            java_class_name("a/B$$Lambda$1+0x0000000800c01234"),
            "a.B$$Lambda$1/0x0000000800c01234"
        );
        assert_eq!(
            java_class_name("a.B$$Lambda$1/0x0000000800c01234"),
            "a.B$$Lambda$1/0x0000000800c01234"
        );
    }

    #[test]
    fn type_bytes_round_trip() {
        for t in BasicType::ALL {
            let code = match t {
                BasicType::Object => 2,
                BasicType::Boolean => 4,
                BasicType::Char => 5,
                BasicType::Float => 6,
                BasicType::Double => 7,
                BasicType::Byte => 8,
                BasicType::Short => 9,
                BasicType::Int => 10,
                BasicType::Long => 11,
            };
            assert_eq!(BasicType::from_u8(code), Some(t));
        }
        assert_eq!(BasicType::from_u8(3), None);
        assert_eq!(BasicType::from_u8(1), None);
    }
}
