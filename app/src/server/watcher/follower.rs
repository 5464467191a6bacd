//! Files on disk: which transcripts exist, whether a file is the one read before, and the
//! complete lines appended since.

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The transcripts under `root`: `agents/<agent>/sessions/*.jsonl`, and rotated copies named
/// `*.jsonl.<n>` (so that lines appended just before a rotation are still read).
pub fn transcripts(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let agents = match std::fs::read_dir(root.join("agents")) {
        Ok(dir) => dir,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    for agent in agents.flatten() {
        let Ok(sessions) = std::fs::read_dir(agent.path().join("sessions")) else {
            continue;
        };
        for entry in sessions.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_transcript(&name) && entry.file_type().is_ok_and(|t| t.is_file()) {
                found.push(entry.path());
            }
        }
    }
    // Oldest first: rotated copies (higher numbers older) before the live file.
    found.sort_by_key(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        let (stem, rotation) = name
            .as_deref()
            .and_then(|n| n.split_once(".jsonl"))
            .map(|(stem, rest)| {
                let n = rest.trim_start_matches('.').parse::<u64>().unwrap_or(0);
                (stem.to_owned(), n)
            })
            .unwrap_or_default();
        (
            p.parent().map(Path::to_path_buf),
            stem,
            std::cmp::Reverse(rotation),
        )
    });
    Ok(found)
}

fn is_transcript(name: &str) -> bool {
    match name.split_once(".jsonl") {
        Some((stem, "")) => !stem.is_empty(),
        Some((stem, rest)) => {
            !stem.is_empty()
                && rest
                    .strip_prefix('.')
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        }
        None => false,
    }
}

/// The file itself (device and inode), whatever its name.
pub fn identity(meta: &Metadata) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        format!("{}:{}", meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        String::new()
    }
}

/// Longest first line that identifies a file; a header is far shorter.
const FINGERPRINT_BYTES: usize = 64 * 1024;

/// A hash of the file's first complete line, or `None` while it has none.
pub fn fingerprint(file: &mut File) -> io::Result<Option<String>> {
    file.seek(SeekFrom::Start(0))?;
    let mut head = Vec::with_capacity(4096);
    let mut buf = [0u8; 4096];
    while head.len() < FINGERPRINT_BYTES {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.iter().position(|b| *b == b'\n') {
            return Ok(Some(crate::server::secrets::token_hash(
                &String::from_utf8_lossy(&head[..end]),
            )));
        }
    }
    Ok((head.len() >= FINGERPRINT_BYTES).then(|| {
        crate::server::secrets::token_hash(&String::from_utf8_lossy(&head[..FINGERPRINT_BYTES]))
    }))
}

/// Complete lines read from `offset`, at most about `max` bytes (more only to finish a line
/// longer than that). The bytes after the last newline stay for the next read.
pub struct Chunk {
    pub bytes: Vec<u8>,
    /// Offset in the file of `bytes[0]`.
    pub start: u64,
}

impl Chunk {
    pub fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    /// Each line with its start offset; carriage returns and blank lines are dropped.
    pub fn lines(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let mut at = self.start;
        self.bytes
            .split_inclusive(|b| *b == b'\n')
            .filter_map(move |line| {
                let start = at;
                at += line.len() as u64;
                let line = line.strip_suffix(b"\n").unwrap_or(line);
                let trimmed = line.strip_suffix(b"\r").unwrap_or(line);
                (!trimmed.iter().all(u8::is_ascii_whitespace)).then_some((start, trimmed))
            })
    }
}

pub fn read_chunk(
    file: &mut File,
    offset: u64,
    size: u64,
    max: usize,
) -> io::Result<Option<Chunk>> {
    if offset >= size {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::with_capacity(max.min((size - offset) as usize));
    let mut reader = file.take(size - offset);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
        if bytes.len() >= max && bytes[bytes.len() - n..].contains(&b'\n') {
            break;
        }
    }
    match bytes.iter().rposition(|b| *b == b'\n') {
        Some(last) => {
            bytes.truncate(last + 1);
            Ok(Some(Chunk {
                bytes,
                start: offset,
            }))
        }
        // Only a partial line so far: the writer has not finished it.
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn transcripts_are_jsonl_files_and_their_numbered_rotations() {
        for (name, yes) in [
            ("a.jsonl", true),
            ("a.jsonl.1", true),
            ("a.jsonl.12", true),
            ("a.jsonl.gz", false),
            ("a.jsonl.1.gz", false),
            ("sessions.json", false),
            (".jsonl", false),
            ("a.jsonl.", false),
            ("a.json", false),
        ] {
            assert_eq!(is_transcript(name), yes, "{name}");
        }
    }

    #[test]
    fn rotated_copies_come_before_the_live_file() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = dir.path().join("agents/main/sessions");
        std::fs::create_dir_all(&sessions).unwrap();
        for name in ["b.jsonl", "a.jsonl", "a.jsonl.1", "a.jsonl.2", "notes.txt"] {
            File::create(sessions.join(name)).unwrap();
        }
        let names: Vec<String> = transcripts(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.jsonl.2", "a.jsonl.1", "a.jsonl", "b.jsonl"]);
        assert!(transcripts(&dir.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn only_complete_lines_are_read_and_the_rest_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let mut f = File::create(&path).unwrap();
        f.write_all(b"one\r\n\ntwo\nthr").unwrap();
        let mut r = File::open(&path).unwrap();
        let size = r.metadata().unwrap().len();
        let chunk = read_chunk(&mut r, 0, size, 1024).unwrap().unwrap();
        assert_eq!(chunk.end(), 10, "stops after the last newline");
        let lines: Vec<(u64, &[u8])> = chunk.lines().collect();
        assert_eq!(lines, vec![(0, &b"one"[..]), (6, &b"two"[..])]);
        assert!(
            read_chunk(&mut r, 10, size, 1024).unwrap().is_none(),
            "partial line waits"
        );
        f.write_all(b"ee\n").unwrap();
        let size = r.metadata().unwrap().len();
        let chunk = read_chunk(&mut r, 10, size, 1024).unwrap().unwrap();
        assert_eq!(chunk.lines().collect::<Vec<_>>(), vec![(10, &b"three"[..])]);
    }

    #[test]
    fn the_fingerprint_waits_for_a_complete_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let mut f = File::create(&path).unwrap();
        f.write_all(b"{\"type\":\"sess").unwrap();
        let mut r = File::open(&path).unwrap();
        assert_eq!(fingerprint(&mut r).unwrap(), None);
        f.write_all(b"ion\"}\nmore").unwrap();
        let first = fingerprint(&mut r).unwrap().unwrap();
        f.write_all(b" and more\n").unwrap();
        assert_eq!(
            fingerprint(&mut r).unwrap().unwrap(),
            first,
            "later lines do not change it"
        );
    }
}
