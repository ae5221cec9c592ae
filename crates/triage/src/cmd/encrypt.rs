//! `--encrypt-to RECIPIENT`: encrypt a finished bundle for one or more age recipients (`age1…`
//! x25519 public keys), so bundles that carry heap dumps or profiles can travel through buckets
//! and tickets. Decrypt with any age implementation: `age -d -i key.txt bundle.tar.zst.age`.

use std::io::{BufReader, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Parsed recipients.
pub struct Recipients(Vec<age::x25519::Recipient>);

impl Recipients {
    /// Parse every `--encrypt-to` value; an invalid one is an error naming it.
    pub fn parse(values: &[String]) -> anyhow::Result<Option<Recipients>> {
        if values.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(values.len());
        for v in values {
            let r: age::x25519::Recipient = v.trim().parse().map_err(|e| {
                anyhow::anyhow!(
                    "--encrypt-to {v}: not an age x25519 recipient ({e}); it looks like age1… (make one with `age-keygen`)"
                )
            })?;
            out.push(r);
        }
        Ok(Some(Recipients(out)))
    }

    /// Encrypt `plain` into `plain` + `.age` (written under a temporary name, renamed when
    /// complete, mode 0600) and remove `plain`. Returns the encrypted file's path.
    pub fn encrypt_file(&self, plain: &Path) -> anyhow::Result<PathBuf> {
        let mut name = plain.as_os_str().to_owned();
        name.push(".age");
        let sealed = PathBuf::from(name);
        if sealed.exists() {
            bail!("{} already exists: choose another --out", sealed.display());
        }
        let mut tmp_name = sealed.as_os_str().to_owned();
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp_name);
        let result = self.encrypt_into(plain, &tmp).and_then(|()| {
            std::fs::rename(&tmp, &sealed)
                .with_context(|| format!("renaming {} to {}", tmp.display(), sealed.display()))
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
            return result.map(|()| sealed);
        }
        std::fs::remove_file(plain)
            .with_context(|| format!("removing the unencrypted {}", plain.display()))?;
        Ok(sealed)
    }

    fn encrypt_into(&self, plain: &Path, dest: &Path) -> anyhow::Result<()> {
        let mut input = BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(plain).with_context(|| format!("opening {}", plain.display()))?,
        );
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dest)
            .with_context(|| format!("creating {}", dest.display()))?;
        let encryptor =
            age::Encryptor::with_recipients(self.0.iter().map(|r| r as &dyn age::Recipient))
                .context("setting up age encryption")?;
        let mut writer = encryptor
            .wrap_output(BufWriter::with_capacity(1 << 20, file))
            .with_context(|| format!("writing {}", dest.display()))?;
        std::io::copy(&mut input, &mut writer)
            .with_context(|| format!("encrypting {} into {}", plain.display(), dest.display()))?;
        let mut inner = writer
            .finish()
            .with_context(|| format!("finishing {}", dest.display()))?;
        inner
            .flush()
            .with_context(|| format!("writing {}", dest.display()))?;
        inner
            .get_ref()
            .sync_all()
            .with_context(|| format!("syncing {}", dest.display()))?;
        Ok(())
    }
}
