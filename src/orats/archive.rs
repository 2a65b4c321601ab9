//! Opening an ORATS ZIP and streaming its one CSV member, with a guard
//! against decompression bombs.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;
use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

/// The most a member may inflate relative to its compressed size. Real ORATS
/// members inflate about 3.5×; a ratio past this is a bomb, not a CSV.
pub const MAX_RATIO: u64 = 100;
/// The most any member may inflate to, whatever its compressed size.
pub const MAX_INFLATED_BYTES: u64 = 16 << 30;
/// Small members may always inflate this far (ratios mean little for tiny files).
const MIN_ALLOWANCE: u64 = 1 << 20;

/// Why an archive cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not a ZIP, or a damaged one.
    #[error("not a readable ZIP archive: {0}")]
    Zip(#[from] ZipError),
    /// No member looks like the CSV.
    #[error("archive holds no .csv member (members: {})", list(.0))]
    NoCsv(Vec<String>),
    /// More than one member could be the CSV.
    #[error("archive holds several .csv members, cannot tell which is the data: {}", list(.0))]
    SeveralCsv(Vec<String>),
    /// The member uses a compression ORATS never uses.
    #[error("member uses unsupported compression {0} (expected deflate or stored)")]
    Method(String),
    /// The member claims an absurd inflated size.
    #[error(
        "member {name} declares {declared} bytes inflated from {compressed}: refused as a decompression bomb (limit {limit} bytes)"
    )]
    Bomb {
        /// Member name.
        name: String,
        /// Declared inflated size.
        declared: u64,
        /// Compressed size.
        compressed: u64,
        /// The limit that applied.
        limit: u64,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "none".to_string();
    }
    let mut shown: Vec<&str> = names.iter().take(10).map(String::as_str).collect();
    if names.len() > 10 {
        shown.push("…");
    }
    shown.join(", ")
}

/// Whether a member is packaging debris rather than data.
fn is_junk(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    name.starts_with("__MACOSX/") || name.contains("/__MACOSX/") || base.starts_with("._")
}

/// An opened archive with its data member chosen.
#[derive(Debug, Clone)]
pub struct Archive {
    data: ArchiveData,
    /// The chosen member's name.
    pub member: String,
    /// The chosen member's compressed size in bytes.
    pub compressed_size: u64,
    data_start: u64,
    method: CompressionMethod,
    crc32: u32,
    declared_size: u64,
    limit: u64,
}

/// An archive's bytes: in memory (fetched from an object store), or a local file read in place
/// with positioned reads. A 65–95 MB archive read whole into memory costs as many freshly
/// zeroed pages as it has bytes (a fifth of a one-file conversion's page faults, measured);
/// a local file is read through the page cache in small pieces instead.
#[derive(Debug, Clone)]
pub enum ArchiveData {
    /// The whole archive in memory.
    Memory(Bytes),
    /// A local file and its length when opened.
    File(Arc<File>, u64),
}

impl ArchiveData {
    /// A local file, read in place.
    pub fn file(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(ArchiveData::File(Arc::new(file), len))
    }

    /// Length in bytes.
    fn len(&self) -> u64 {
        match self {
            ArchiveData::Memory(bytes) => bytes.len() as u64,
            ArchiveData::File(_, len) => *len,
        }
    }

    /// The SHA-256 of every byte, in lowercase hex.
    pub fn sha256(&self) -> io::Result<String> {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        match self {
            ArchiveData::Memory(bytes) => hasher.update(bytes),
            ArchiveData::File(..) => {
                let mut cursor = self.cursor(0, self.len());
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = cursor.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                }
            }
        }
        Ok(hex::encode(hasher.finalize()))
    }

    /// A reader of the bytes `start..end`, seekable within them (positions are relative
    /// to `start`). A file shorter than `end` reads as an unexpected end of file.
    fn cursor(&self, start: u64, end: u64) -> DataCursor {
        DataCursor {
            data: self.clone(),
            start,
            end,
            pos: start,
        }
    }
}

/// Reads a range of [`ArchiveData`]; each reader keeps its own position (positioned reads of a
/// shared file), so readers of one archive never disturb each other.
struct DataCursor {
    data: ArchiveData,
    start: u64,
    end: u64,
    pos: u64,
}

impl Read for DataCursor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end.saturating_sub(self.pos)).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = match &self.data {
            ArchiveData::Memory(bytes) => {
                // `pos < end <= len` for a cursor over memory (ends come from the archive's own
                // length or were checked against it).
                let at = usize::try_from(self.pos)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let n = want.min(bytes.len() - at);
                buf[..n].copy_from_slice(&bytes[at..at + n]);
                n
            }
            ArchiveData::File(file, _) => file.read_at(&mut buf[..want], self.pos)?,
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends early (was the file truncated while being read?)",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for DataCursor {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = (self.end - self.start) as i128;
        let relative = (self.pos - self.start) as i128;
        let target = match to {
            SeekFrom::Start(n) => n as i128,
            SeekFrom::End(n) => len + n as i128,
            SeekFrom::Current(n) => relative + n as i128,
        };
        if target < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the archive",
            ));
        }
        let target = u64::try_from(target).unwrap_or(u64::MAX);
        self.pos = self.start.saturating_add(target);
        Ok(target)
    }
}

impl Archive {
    /// Opens a ZIP held in memory and picks the one `.csv` member that is not junk.
    pub fn open(bytes: Bytes) -> Result<Self, ArchiveError> {
        Archive::open_data(ArchiveData::Memory(bytes))
    }

    /// Opens a ZIP and picks the one `.csv` member that is not junk.
    pub fn open_data(data: ArchiveData) -> Result<Self, ArchiveError> {
        let mut zip = ZipArchive::new(data.cursor(0, data.len()))?;
        let mut candidates = Vec::new();
        let mut names = Vec::new();
        for i in 0..zip.len() {
            let entry = zip.by_index_raw(i)?;
            let name = entry.name()?.into_owned();
            if !entry.is_dir() && !is_junk(&name) && name.to_ascii_lowercase().ends_with(".csv") {
                candidates.push(i);
            }
            names.push(name);
        }
        let index = match candidates.as_slice() {
            [] => return Err(ArchiveError::NoCsv(names)),
            [one] => *one,
            several => {
                return Err(ArchiveError::SeveralCsv(
                    several.iter().map(|i| names[*i].clone()).collect(),
                ));
            }
        };
        let entry = zip.by_index_raw(index)?;
        let member = names[index].clone();
        let compressed_size = entry.compressed_size();
        let declared_size = entry.size();
        let data_start = entry.data_start().ok_or(ZipError::InvalidArchive(
            "member data offset unknown".into(),
        ))?;
        let method = entry.compression();
        let crc32 = entry.crc32();
        drop(entry);
        let limit = compressed_size
            .saturating_mul(MAX_RATIO)
            .clamp(MIN_ALLOWANCE, MAX_INFLATED_BYTES);
        if declared_size > limit {
            return Err(ArchiveError::Bomb {
                name: member,
                declared: declared_size,
                compressed: compressed_size,
                limit,
            });
        }
        let end = data_start.saturating_add(compressed_size);
        if end > data.len() {
            return Err(ZipError::InvalidArchive(
                "member data runs past the end of the archive".into(),
            )
            .into());
        }
        if !matches!(
            method,
            CompressionMethod::Stored | CompressionMethod::Deflated
        ) {
            return Err(ArchiveError::Method(format!("{method:?}")));
        }
        Ok(Archive {
            data,
            member,
            compressed_size,
            data_start,
            method,
            crc32,
            declared_size,
            limit,
        })
    }

    /// Streams the member's inflated bytes. The reader owns what it needs, so it
    /// can be opened again; it fails past the bomb limit and, at the end, on a
    /// CRC or size mismatch (a corrupt member never passes for a short one).
    pub fn reader(&self) -> MemberReader {
        let data = self
            .data
            .cursor(self.data_start, self.data_start + self.compressed_size);
        let inner: Box<dyn Read + Send> = match self.method {
            CompressionMethod::Stored => Box::new(data),
            _ => Box::new(flate2::read::DeflateDecoder::new(data)),
        };
        MemberReader {
            inner,
            read: 0,
            limit: self.limit,
            hasher: crc32fast::Hasher::new(),
            expected_crc: self.crc32,
            expected_size: self.declared_size,
        }
    }
}

/// The inflated bytes of a member, checked as they stream.
pub struct MemberReader {
    inner: Box<dyn Read + Send>,
    read: u64,
    limit: u64,
    hasher: crc32fast::Hasher,
    expected_crc: u32,
    expected_size: u64,
}

impl Read for MemberReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "member inflates past {} bytes: refused as a decompression bomb",
                    self.limit
                ),
            ));
        }
        if n == 0 && !buf.is_empty() {
            let crc = std::mem::take(&mut self.hasher).finalize();
            if self.read != self.expected_size || crc != self.expected_crc {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "member is corrupt: inflated {} bytes with CRC {crc:08x}, the archive says {} bytes with CRC {:08x}",
                        self.read, self.expected_size, self.expected_crc
                    ),
                ));
            }
            self.hasher = crc32fast::Hasher::new_with_initial_len(crc, self.read);
        } else {
            self.hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;

    fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in members {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn read_all(bytes: Vec<u8>) -> Result<(String, Vec<u8>), ArchiveError> {
        let a = Archive::open(Bytes::from(bytes))?;
        let mut out = Vec::new();
        a.reader().read_to_end(&mut out).unwrap();
        Ok((a.member.clone(), out))
    }

    #[test]
    fn picks_the_csv_among_junk_and_subfolders() {
        let z = zip_of(&[
            ("__MACOSX/x/._ORATS.csv", b"junk"),
            ("x/._ORATS.csv", b"junk"),
            ("x/ORATS_SMV_Strikes_20240103.csv", b"a,b\n"),
            ("readme.txt", b"hi"),
        ]);
        let (name, data) = read_all(z).unwrap();
        assert_eq!(name, "x/ORATS_SMV_Strikes_20240103.csv");
        assert_eq!(data, b"a,b\n");
    }

    #[test]
    fn refuses_none_or_several() {
        let none = read_all(zip_of(&[("a.txt", b"x")])).err().unwrap();
        assert!(matches!(none, ArchiveError::NoCsv(_)), "{none}");
        assert!(none.to_string().contains("a.txt"));
        let two = read_all(zip_of(&[("a.csv", b"x"), ("b.CSV", b"y")]))
            .err()
            .unwrap();
        assert!(matches!(two, ArchiveError::SeveralCsv(_)), "{two}");
    }

    #[test]
    fn garbage_is_not_a_zip() {
        let err = read_all(b"this is not a zip file at all".to_vec())
            .err()
            .unwrap();
        assert!(matches!(err, ArchiveError::Zip(_)), "{err}");
    }

    #[test]
    fn bomb_is_refused() {
        let zeros = vec![0u8; 8 << 20];
        let err = Archive::open(Bytes::from(zip_of(&[("bomb.csv", &zeros)])))
            .expect_err("an 8 MiB member of zeros is far past the ratio");
        assert!(matches!(err, ArchiveError::Bomb { .. }), "{err}");
        assert!(err.to_string().contains("decompression bomb"));
    }

    #[test]
    fn reader_stops_past_the_limit_and_can_be_reopened() {
        let data = vec![b'x'; 4000];
        let mut a = Archive::open(Bytes::from(zip_of(&[("a.csv", &data)]))).unwrap();
        let mut out = Vec::new();
        a.reader().read_to_end(&mut out).unwrap();
        a.reader().read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 8000);
        a.limit = 100;
        let err = a.reader().read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn corrupt_member_data_fails_the_crc() {
        let data: Vec<u8> = (0..20_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut z = zip_of(&[("a.csv", &data)]);
        let a = Archive::open(Bytes::from(z.clone())).unwrap();
        // Flip one byte inside the compressed data.
        let pos = (a.data_start + a.compressed_size / 2) as usize;
        z[pos] ^= 0x55;
        let a = Archive::open(Bytes::from(z)).unwrap();
        let err = a.reader().read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    }

    /// An archive on disk, read in place.
    fn on_disk(bytes: &[u8]) -> (tempfile::NamedTempFile, ArchiveData) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        let data = ArchiveData::file(File::open(file.path()).unwrap()).unwrap();
        (file, data)
    }

    #[test]
    fn a_file_read_in_place_gives_the_member_and_checksum_of_the_same_bytes_in_memory() {
        let data: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let z = zip_of(&[("readme.txt", b"hi"), ("x/a.csv", &data)]);
        let (_file, on_disk) = on_disk(&z);
        let memory = ArchiveData::Memory(Bytes::from(z.clone()));
        assert_eq!(on_disk.len(), z.len() as u64);
        assert_eq!(on_disk.sha256().unwrap(), memory.sha256().unwrap());
        assert_eq!(
            memory.sha256().unwrap(),
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&z))
        );
        let (a, b) = (
            Archive::open_data(on_disk).unwrap(),
            Archive::open_data(memory).unwrap(),
        );
        assert_eq!((a.member.as_str(), a.data_start), ("x/a.csv", b.data_start));
        // Two readers of one file, interleaved, each keep their own position.
        let (mut r1, mut r2) = (a.reader(), a.reader());
        let (mut one, mut two) = (vec![0u8; 1000], vec![0u8; 1000]);
        r1.read_exact(&mut one).unwrap();
        r2.read_exact(&mut two).unwrap();
        assert_eq!(one, two);
        let mut rest = Vec::new();
        r1.read_to_end(&mut rest).unwrap();
        one.extend(rest);
        assert_eq!(one, data);
    }

    #[test]
    fn a_file_cut_short_while_being_read_is_an_error_not_a_short_member() {
        let data: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let z = zip_of(&[("a.csv", &data)]);
        let (file, on_disk) = on_disk(&z);
        let a = Archive::open_data(on_disk).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(file.path())
            .unwrap()
            .set_len(a.data_start + 100)
            .unwrap();
        let err = a.reader().read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
        assert!(err.to_string().contains("ends early"), "{err}");
    }

    #[test]
    fn truncated_archive_is_refused() {
        let z = zip_of(&[("a.csv", b"ticker\n")]);
        let err = Archive::open(Bytes::from(z[..z.len() / 2].to_vec()))
            .err()
            .unwrap();
        assert!(matches!(err, ArchiveError::Zip(_)), "{err}");
    }
}
