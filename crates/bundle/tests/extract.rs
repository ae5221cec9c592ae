//! Replays the kubectl cp CVE payloads (CVE-2018-1002100, CVE-2019-1002101, CVE-2019-11246,
//! CVE-2019-11249, CVE-2019-11251) and tar/zstd bombs against `bundle::extract`. Each archive
//! is built byte by byte (the `tar` crate's safe setters refuse most of these names), extracted
//! into `<scratch>/dest`, and the test asserts that the error names the hostile entry and that
//! nothing at all appeared in `<scratch>` outside `dest`.

use std::fs;
use std::io::Cursor;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bundle::extract::{ExtractError, Limits, extract};

#[path = "common/tar.rs"]
mod hostile_tar;
use hostile_tar::Tar;

struct Scratch {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        Scratch { _dir: dir, root }
    }
    fn dest(&self) -> PathBuf {
        self.root.join("dest")
    }
    /// Every path under the scratch root that is not the destination or inside it.
    fn outside_dest(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        walk(&self.root, &mut found);
        found
            .into_iter()
            .filter(|p| !p.starts_with(self.dest()))
            .collect()
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        out.push(path.clone());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&path, out);
        }
    }
}

fn small_limits() -> Limits {
    Limits {
        max_file_bytes: 1 << 20,
        max_total_bytes: 4 << 20,
        max_entries: 1000,
    }
}

/// Extracts `archive` into a fresh scratch dir and returns the error, after checking that it
/// names `entry` and that nothing was written outside the destination.
fn refused(archive: &[u8], entry: &str) -> ExtractError {
    let scratch = Scratch::new();
    let err = extract(Cursor::new(archive), &scratch.dest(), small_limits())
        .expect_err("hostile archive refused");
    let message = err.to_string();
    assert!(
        message.contains(&format!("{entry:?}")),
        "error does not name entry {entry:?}: {message}"
    );
    assert_eq!(
        scratch.outside_dest(),
        Vec::<PathBuf>::new(),
        "something escaped the destination ({message})"
    );
    err
}

#[test]
fn cve_2018_1002100_parent_directory_entries() {
    for name in [
        "../escape.txt",
        "../../escape.txt",
        "ok/../../escape.txt",
        "./../escape.txt",
        "a/b/../../../escape.txt",
    ] {
        let archive = Tar::default()
            .file("fine.txt", b"ok")
            .file(name, b"pwned")
            .finish();
        let err = refused(&archive, name);
        assert!(
            matches!(err, ExtractError::ParentDirectory { .. }),
            "{name}: {err}"
        );
    }
}

#[test]
fn absolute_paths_are_refused_not_stripped() {
    let scratch_outside = tempfile::tempdir().expect("temp dir");
    let target = scratch_outside.path().join("abs.txt");
    let name = target.to_str().expect("utf-8 temp path").to_string();
    let archive = Tar::default().file(&name, b"pwned").finish();
    let err = refused(&archive, &name);
    assert!(matches!(err, ExtractError::AbsolutePath { .. }), "{err}");
    assert!(!target.exists());
}

#[test]
fn cve_2019_1002101_symlink_then_write_through_it() {
    let scratch = Scratch::new();
    let outside = scratch.root.join("outside");
    fs::create_dir(&outside).expect("mkdir");
    for target in [
        outside.to_str().expect("utf-8").to_string(),
        "../outside".to_string(),
    ] {
        let archive = Tar::default()
            .symlink("link", &target)
            .file("link/evil.txt", b"pwned")
            .finish();
        let err = refused(&archive, "link");
        assert!(
            matches!(
                err,
                ExtractError::ForbiddenType {
                    kind: "symbolic link",
                    ..
                }
            ),
            "{err}"
        );
    }
    assert_eq!(fs::read_dir(&outside).expect("readable").count(), 0);
}

#[test]
fn cve_2019_11246_malicious_tar_stream() {
    // A `..` hidden past the 100-byte name field in a GNU long name.
    let long = format!("{}/../../../long-escape.txt", "d".repeat(120));
    let archive = Tar::default()
        .gnu_long_name(&long)
        .file("placeholder", b"pwned")
        .finish();
    refused(&archive, &long);
    // A PAX `path` record overriding an innocent ustar name.
    let archive = Tar::default()
        .pax(&[("path", "../../pax-escape.txt")])
        .file("innocent.txt", b"pwned")
        .finish();
    refused(&archive, "../../pax-escape.txt");
    // The ustar prefix field carrying the `..`.
    let archive = Tar::default()
        .raw(b"prefix-escape.txt", b'0', b"", b"../..", b"pwned")
        .finish();
    refused(&archive, "../../prefix-escape.txt");
    // An absolute path smuggled through PAX.
    let archive = Tar::default()
        .pax(&[("path", "/tmp/pax-absolute.txt")])
        .file("innocent.txt", b"pwned")
        .finish();
    let err = refused(&archive, "/tmp/pax-absolute.txt");
    assert!(matches!(err, ExtractError::AbsolutePath { .. }));
    assert!(!Path::new("/tmp/pax-absolute.txt").exists());
    // A hard link to a file outside, then a write through it.
    let archive = Tar::default()
        .entry("hl", b'1', "/etc/passwd", b"")
        .file("hl", b"pwned")
        .finish();
    let err = refused(&archive, "hl");
    assert!(
        matches!(
            err,
            ExtractError::ForbiddenType {
                kind: "hard link",
                ..
            }
        ),
        "{err}"
    );
    // Devices and FIFOs.
    for (kind, what) in [
        (b'3', "character device"),
        (b'4', "block device"),
        (b'6', "FIFO"),
    ] {
        let archive = Tar::default().entry("node", kind, "", b"").finish();
        let err = refused(&archive, "node");
        assert!(
            matches!(err, ExtractError::ForbiddenType { kind, .. } if kind == what),
            "{err}"
        );
    }
}

#[test]
fn cve_2019_11249_relative_destination_escape() {
    let scratch = Scratch::new();
    let cwd = std::env::current_dir().expect("cwd");
    // The destination as a relative path that wanders up and back down, and entries aiming at a
    // sibling whose name shares the destination's prefix (defeats lexical prefix checks).
    let ups = cwd.components().count() - 1;
    let relative = PathBuf::from("../".repeat(ups))
        .join(scratch.root.strip_prefix("/").expect("absolute"))
        .join("x/../dest");
    fs::create_dir(scratch.root.join("x")).expect("mkdir");
    let archive = Tar::default()
        .file("ok.txt", b"fine")
        .file("../dest-evil/pwned.txt", b"pwned")
        .finish();
    let err = extract(Cursor::new(&archive), &relative, small_limits()).expect_err("refused");
    assert!(
        err.to_string().contains("\"../dest-evil/pwned.txt\""),
        "{err}"
    );
    assert!(!scratch.root.join("dest-evil").exists());
    assert_eq!(
        fs::read(scratch.dest().join("ok.txt")).expect("extracted before the hostile entry"),
        b"fine"
    );
    let escaped: Vec<PathBuf> = scratch
        .outside_dest()
        .into_iter()
        .filter(|p| p != &scratch.root.join("x"))
        .collect();
    assert_eq!(escaped, Vec::<PathBuf>::new());
}

#[test]
fn cve_2019_11251_chained_symlinks() {
    let archive = Tar::default()
        .dir("dir/")
        .symlink("dir/l1", "../")
        .symlink("dir/l1/l2", "../../outside")
        .file("dir/l1/l2/evil.txt", b"pwned")
        .finish();
    let err = refused(&archive, "dir/l1");
    assert!(matches!(err, ExtractError::ForbiddenType { .. }), "{err}");
}

#[test]
fn zstd_compressed_file_bomb_is_refused_before_writing() {
    // 64 MiB of zeros in one entry compresses to a few KiB.
    let tar = Tar::default()
        .file("readme.txt", b"hi")
        .zeros("bomb.bin", 64 << 20)
        .finish();
    let compressed = zstd::encode_all(&tar[..], 3).expect("compress");
    assert!(
        compressed.len() < 64 << 10,
        "the bomb is small: {}",
        compressed.len()
    );
    let scratch = Scratch::new();
    let err =
        extract(Cursor::new(&compressed), &scratch.dest(), small_limits()).expect_err("refused");
    assert!(
        matches!(err, ExtractError::FileTooLarge { ref entry, .. } if entry == "bomb.bin"),
        "{err}"
    );
    assert!(
        !scratch.dest().join("bomb.bin").exists(),
        "nothing written for a refused entry"
    );
    assert_eq!(
        fs::read(scratch.dest().join("readme.txt")).expect("earlier entry"),
        b"hi"
    );
}

#[test]
fn zstd_compressed_total_bomb_is_refused() {
    let mut tar = Tar::default();
    for i in 0..16 {
        tar = tar.zeros(&format!("part-{i:02}.bin"), 900 << 10);
    }
    let compressed = zstd::encode_all(&tar.finish()[..], 3).expect("compress");
    let scratch = Scratch::new();
    let err =
        extract(Cursor::new(&compressed), &scratch.dest(), small_limits()).expect_err("refused");
    // 4 MiB total: the fifth 900 KiB file crosses it.
    assert!(
        matches!(err, ExtractError::TotalTooLarge { ref entry, .. } if entry == "part-04.bin"),
        "{err}"
    );
    let written: u64 = fs::read_dir(scratch.dest())
        .expect("dest")
        .flatten()
        .map(|e| e.metadata().expect("meta").len())
        .sum();
    assert!(written <= 4 << 20);
}

#[test]
fn decompressed_stream_is_capped_even_inside_headers() {
    // A 64 MiB PAX record: the tar crate reads extension headers into memory, so the stream cap
    // (not the file caps) must stop it.
    let big = "A".repeat(64 << 20);
    let tar = Tar::default()
        .pax(&[("comment", &big)])
        .file("x.txt", b"x")
        .finish();
    let compressed = zstd::encode_all(&tar[..], 3).expect("compress");
    let scratch = Scratch::new();
    let limits = Limits {
        max_file_bytes: 1 << 20,
        max_total_bytes: 1 << 20,
        max_entries: 10,
    };
    let err = extract(Cursor::new(&compressed), &scratch.dest(), limits).expect_err("refused");
    assert!(matches!(err, ExtractError::StreamTooLarge { .. }), "{err}");
    assert!(
        err.to_string().contains("decompression or header bomb"),
        "{err}"
    );

    // The same through a GNU long name, and through the data of a directory entry (which is
    // skipped, so no file cap applies to it), with the default, generous limits.
    let long_name = Tar::default()
        .gnu_long_name(&"n".repeat(32 << 20))
        .file("x", b"x")
        .finish();
    let dir_data = Tar::default()
        .file("first.txt", b"1")
        .raw(b"d/", b'5', b"", b"", &vec![0u8; 32 << 20])
        .finish();
    for (what, tar) in [("long name", long_name), ("directory data", dir_data)] {
        let compressed = zstd::encode_all(&tar[..], 3).expect("compress");
        let scratch = Scratch::new();
        let err =
            extract(Cursor::new(&compressed), &scratch.dest(), Limits::default()).expect_err(what);
        assert!(
            matches!(err, ExtractError::StreamTooLarge { .. }),
            "{what}: {err}"
        );
        assert_eq!(scratch.outside_dest(), Vec::<PathBuf>::new());
    }
}

#[test]
fn too_many_entries_and_duplicates_are_refused() {
    let mut tar = Tar::default();
    for i in 0..20 {
        tar = tar.file(&format!("f{i}"), b"");
    }
    let scratch = Scratch::new();
    let limits = Limits {
        max_entries: 10,
        ..small_limits()
    };
    let err = extract(Cursor::new(tar.finish()), &scratch.dest(), limits).expect_err("refused");
    assert!(
        matches!(err, ExtractError::TooManyEntries { ref entry, .. } if entry == "f10"),
        "{err}"
    );

    let archive = Tar::default()
        .file("same.txt", b"first")
        .file("same.txt", b"second")
        .finish();
    let err = refused(&archive, "same.txt");
    assert!(matches!(err, ExtractError::Duplicate { .. }), "{err}");
    let archive = Tar::default()
        .file("a", b"file")
        .file("a/b", b"under a file")
        .finish();
    let err = refused(&archive, "a/b");
    assert!(matches!(err, ExtractError::Duplicate { .. }), "{err}");
}

#[test]
fn existing_destination_is_refused() {
    let scratch = Scratch::new();
    fs::create_dir(scratch.dest()).expect("mkdir");
    let err = extract(
        Cursor::new(Tar::default().file("a", b"a").finish()),
        &scratch.dest(),
        small_limits(),
    )
    .expect_err("refused");
    assert!(
        matches!(err, ExtractError::DestinationExists { .. }),
        "{err}"
    );
    assert!(!scratch.dest().join("a").exists());
}

#[test]
fn a_real_bundle_extracts_privately() {
    // Built with the tar crate's own builder and zstd, like a bundle.
    let mut builder = tar::Builder::new(zstd::Encoder::new(Vec::new(), 3).expect("encoder"));
    for (path, data) in [
        ("manifest.json", &b"{\"schema\":1}"[..]),
        ("host/proc/meminfo", b"MemTotal: 1 kB\n"),
        ("host/proc/4242/cmdline", b"java\0-jar\0x.jar"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o4755);
        h.set_cksum();
        builder.append_data(&mut h, path, data).expect("append");
    }
    let mut pax_global = tar::Header::new_ustar();
    pax_global.set_entry_type(tar::EntryType::XGlobalHeader);
    pax_global.set_size(0);
    pax_global.set_cksum();
    builder
        .append_data(&mut pax_global, "pax_global_header", &b""[..])
        .expect("append");
    let compressed = builder.into_inner().expect("tar").finish().expect("zstd");
    let scratch = Scratch::new();
    let report =
        extract(Cursor::new(&compressed), &scratch.dest(), Limits::default()).expect("extracts");
    assert_eq!(report.files, 3);
    assert_eq!(report.skipped_headers, 1);
    assert_eq!(report.bytes, 12 + 15 + 15);
    assert_eq!(
        fs::read(scratch.dest().join("host/proc/4242/cmdline")).expect("file"),
        b"java\0-jar\0x.jar"
    );
    let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o7777;
    assert_eq!(mode(&scratch.dest()), 0o700);
    assert_eq!(mode(&scratch.dest().join("host/proc")), 0o700);
    assert_eq!(
        mode(&scratch.dest().join("manifest.json")) & 0o7000,
        0,
        "no setuid from the archive"
    );
    assert_eq!(
        mode(&scratch.dest().join("manifest.json")) & 0o077,
        0,
        "files are private"
    );
    assert!(
        fs::metadata(scratch.dest().join("manifest.json"))
            .expect("meta")
            .file_type()
            .is_file()
    );
    assert!(
        !fs::symlink_metadata(scratch.dest().join("host"))
            .expect("meta")
            .file_type()
            .is_fifo()
    );
}
