//! Tar archives built byte by byte for extraction tests (the `tar` crate's safe setters refuse
//! most hostile names). Shared by the bundle crate's tests and the CLI's.
#![allow(dead_code)]

/// One 512-byte header (ustar), with any bytes for name, link name and prefix.
pub fn header(name: &[u8], kind: u8, size: u64, link: &[u8], prefix: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0001750\0");
    h[116..124].copy_from_slice(b"0001750\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"14711234567\0");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix);
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// An archive under construction.
#[derive(Default)]
pub struct Tar(pub Vec<u8>);

impl Tar {
    pub fn entry(self, name: &str, kind: u8, link: &str, data: &[u8]) -> Self {
        self.raw(name.as_bytes(), kind, link.as_bytes(), b"", data)
    }
    pub fn raw(mut self, name: &[u8], kind: u8, link: &[u8], prefix: &[u8], data: &[u8]) -> Self {
        self.0
            .extend_from_slice(&header(name, kind, data.len() as u64, link, prefix));
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().next_multiple_of(512), 0);
        self
    }
    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.entry(name, b'0', "", data)
    }
    pub fn dir(self, name: &str) -> Self {
        self.entry(name, b'5', "", b"")
    }
    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(name, b'2', target, b"")
    }
    /// A header claiming `size` bytes, followed by that many zeros (compresses to nothing).
    pub fn zeros(mut self, name: &str, size: u64) -> Self {
        self.0
            .extend_from_slice(&header(name.as_bytes(), b'0', size, b"", b""));
        self.0
            .resize(self.0.len() + (size as usize).next_multiple_of(512), 0);
        self
    }
    pub fn pax(self, records: &[(&str, &str)]) -> Self {
        let mut data = Vec::new();
        for (k, v) in records {
            let body = format!(" {k}={v}\n");
            let mut len = body.len() + 1;
            while format!("{len}{body}").len() != len {
                len += 1;
            }
            data.extend_from_slice(format!("{len}{body}").as_bytes());
        }
        self.entry("PaxHeaders/x", b'x', "", &data)
    }
    pub fn gnu_long_name(self, name: &str) -> Self {
        let mut data = name.as_bytes().to_vec();
        data.push(0);
        self.entry("././@LongLink", b'L', "", &data)
    }
    pub fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0u8; 1024]);
        self.0
    }
}
