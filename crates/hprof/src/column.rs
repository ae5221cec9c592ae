//! Dense per-object arrays that live in memory or, for dumps larger than RAM, in memory-mapped
//! temporary files the kernel can page out.
//!
//! Every per-object and per-reference table of the graph is a [`Column`]. In memory it is a `Vec`.
//! Spilled, it is an unlinked temporary file mapped shared and read-write: the kernel writes cold
//! pages back to the file instead of the process running out of memory, and the file disappears
//! when the column is dropped (or the process dies). Access patterns of the analysis are mostly
//! sequential, so a spilled analysis runs at disk speed rather than failing.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

mod sealed {
    pub trait Sealed {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
}

/// Plain integers a column can hold: any bit pattern is a valid value and alignment divides the
/// page size, which is what makes viewing a mapping as `[T]` sound.
pub trait Element: sealed::Sealed + Copy + Default + Send + Sync + 'static {}
impl Element for u32 {}
impl Element for u64 {}

/// Where columns keep their data.
#[derive(Debug, Clone, Default)]
pub enum Storage {
    /// Ordinary heap memory.
    #[default]
    Memory,
    /// Memory-mapped temporary files in this directory.
    Spill(PathBuf),
}

/// A growable array of `T`, in memory or in a mapped temp file.
pub struct Column<T: Element> {
    inner: Inner<T>,
}

enum Inner<T> {
    Heap(Vec<T>),
    Mapped {
        file: File,
        map: Option<MmapMut>,
        len: usize,
        capacity: usize,
        dir: PathBuf,
        _marker: std::marker::PhantomData<T>,
    },
}

impl<T: Element> Column<T> {
    /// An empty column.
    pub fn new(storage: &Storage) -> io::Result<Self> {
        Ok(Column {
            inner: match storage {
                Storage::Memory => Inner::Heap(Vec::new()),
                Storage::Spill(dir) => Inner::Mapped {
                    file: tempfile::tempfile_in(dir)?,
                    map: None,
                    len: 0,
                    capacity: 0,
                    dir: dir.clone(),
                    _marker: std::marker::PhantomData,
                },
            },
        })
    }

    /// A column of `len` copies of `value`.
    pub fn filled(storage: &Storage, len: usize, value: T) -> io::Result<Self> {
        let mut c = Column::new(storage)?;
        c.reserve_exact(len)?;
        match &mut c.inner {
            Inner::Heap(v) => v.resize(len, value),
            Inner::Mapped { len: l, .. } => {
                *l = len;
                if value_is_zero(value) {
                    // A fresh file reads as zeros.
                } else {
                    c.as_mut_slice().fill(value);
                }
            }
        }
        Ok(c)
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.inner {
            Inner::Heap(v) => v.len(),
            Inner::Mapped { len, .. } => *len,
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the data lives in a mapped file.
    pub fn is_spilled(&self) -> bool {
        matches!(self.inner, Inner::Mapped { .. })
    }

    fn reserve_exact(&mut self, total: usize) -> io::Result<()> {
        match &mut self.inner {
            Inner::Heap(v) => {
                v.reserve_exact(total.saturating_sub(v.len()));
                Ok(())
            }
            Inner::Mapped {
                file,
                map,
                capacity,
                ..
            } => {
                if total <= *capacity {
                    return Ok(());
                }
                let bytes = total
                    .checked_mul(std::mem::size_of::<T>())
                    .ok_or_else(|| io::Error::other("column too large"))?;
                *map = None;
                file.set_len(bytes as u64)?;
                // SAFETY: the file is private to this column (unlinked temp file), so no other
                // process or mapping changes it while mapped.
                *map = Some(unsafe { MmapMut::map_mut(&*file)? });
                *capacity = total;
                Ok(())
            }
        }
    }

    /// Append one element.
    #[inline]
    pub fn push(&mut self, value: T) -> io::Result<()> {
        match &mut self.inner {
            Inner::Heap(v) => {
                v.push(value);
                Ok(())
            }
            Inner::Mapped { len, capacity, .. } => {
                if *len == *capacity {
                    let grow = (*capacity * 2).max(1 << 16);
                    self.reserve_exact(grow)?;
                }
                let Inner::Mapped { len, .. } = &mut self.inner else {
                    unreachable!("variant does not change")
                };
                let i = *len;
                *len += 1;
                self.as_mut_slice()[i] = value;
                Ok(())
            }
        }
    }

    /// The elements.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        match &self.inner {
            Inner::Heap(v) => v,
            Inner::Mapped { map, len, .. } => match map {
                // SAFETY: the mapping is page-aligned, at least `len * size_of::<T>()` bytes long,
                // and `T` is a plain integer for which every bit pattern is valid.
                Some(m) => unsafe { std::slice::from_raw_parts(m.as_ptr().cast::<T>(), *len) },
                None => &[],
            },
        }
    }

    /// The elements, mutable.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        match &mut self.inner {
            Inner::Heap(v) => v,
            Inner::Mapped { map, len, .. } => match map {
                // SAFETY: as in `as_slice`; `&mut self` guarantees exclusive access.
                Some(m) => unsafe {
                    std::slice::from_raw_parts_mut(m.as_mut_ptr().cast::<T>(), *len)
                },
                None => &mut [],
            },
        }
    }

    /// Give back memory beyond the length (in-memory columns).
    pub fn shrink_to_fit(&mut self) {
        if let Inner::Heap(v) = &mut self.inner {
            v.shrink_to_fit();
        }
    }

    /// Directory of a spilled column.
    pub fn spill_dir(&self) -> Option<&Path> {
        match &self.inner {
            Inner::Heap(_) => None,
            Inner::Mapped { dir, .. } => Some(dir),
        }
    }
}

fn value_is_zero<T: Element>(value: T) -> bool {
    // Compare the bytes of the value with zero without unsafe code.
    let default = T::default();
    let as_u64 = |x: T| -> u64 {
        let any: &dyn std::any::Any = &x;
        if let Some(v) = any.downcast_ref::<u32>() {
            *v as u64
        } else if let Some(v) = any.downcast_ref::<u64>() {
            *v
        } else {
            1
        }
    };
    as_u64(value) == 0 && as_u64(default) == 0
}

impl<T: Element> std::ops::Deref for Column<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Element> std::ops::DerefMut for Column<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_column_behaves_like_a_vec() {
        let dir = tempfile::tempdir().unwrap();
        for storage in [Storage::Memory, Storage::Spill(dir.path().to_path_buf())] {
            let mut c: Column<u64> = Column::new(&storage).unwrap();
            for i in 0..200_000u64 {
                c.push(i * 3).unwrap();
            }
            assert_eq!(c.len(), 200_000);
            assert_eq!(c[199_999], 599_997);
            c[5] = 1;
            assert_eq!(
                c.iter().take(6).copied().collect::<Vec<_>>(),
                vec![0, 3, 6, 9, 12, 1]
            );
            let f: Column<u32> = Column::filled(&storage, 1000, 7).unwrap();
            assert!(f.iter().all(|&x| x == 7));
            let z: Column<u32> = Column::filled(&storage, 1000, 0).unwrap();
            assert!(z.iter().all(|&x| x == 0));
            assert_eq!(c.is_spilled(), matches!(storage, Storage::Spill(_)));
        }
    }
}
