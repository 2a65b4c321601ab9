//! Splitting ORATS CSV text into records and fields.
//!
//! ORATS writes one record per line, fields separated by commas, and never
//! quotes (ORATS_FORMAT.md). So a record is a line and a field is the text
//! between two commas, and `memchr` finds both at memory speed: the `csv`
//! crate's RFC 4180 state machine, which we ran with quoting off anyway, was a
//! tenth of a whole conversion. Without quoting rules a stray `"` stays in its
//! cell, where the row is rejected, instead of opening a field that swallows
//! the following lines.
//!
//! Lines end in `\n` or `\r\n`; a last line without a terminator is still a
//! record; a blank line is a record with one empty field (the caller skips it,
//! and it still counts for the line numbers of what follows).

use std::io::{self, BufRead, BufReader, Read};

use memchr::memchr;

/// A line longer than this is not an ORATS row (real ones are ~250 bytes);
/// refusing it bounds the memory a corrupt member without newlines can take.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Reads records from a byte stream, reusing its buffers from record to record.
pub struct Records<R> {
    input: BufReader<R>,
    /// A line that straddled two reads of `input`, copied here whole.
    spill: Vec<u8>,
    /// The end offset of every field of the current record.
    ends: Vec<usize>,
    /// Bytes of `input`'s buffer the current record occupies, consumed on the next call.
    used: usize,
    line: u64,
}

/// One record: its text (without the line terminator) and its fields.
#[derive(Clone, Copy)]
pub struct Record<'a> {
    text: &'a [u8],
    ends: &'a [usize],
    /// The line number of the record (the header is line 1).
    pub line: u64,
}

impl<R: Read> Records<R> {
    /// Records of `input`, read through a buffer of `capacity` bytes.
    pub fn new(input: R, capacity: usize) -> Self {
        Records {
            input: BufReader::with_capacity(capacity, input),
            spill: Vec::new(),
            ends: Vec::with_capacity(64),
            used: 0,
            line: 0,
        }
    }

    /// The line number of the last record returned (or being read, after an error).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The next record, or `None` at the end of the stream.
    pub fn next_record(&mut self) -> io::Result<Option<Record<'_>>> {
        self.input.consume(std::mem::take(&mut self.used));
        let newline = {
            let buffered = self.input.fill_buf()?;
            if buffered.is_empty() {
                return Ok(None);
            }
            memchr(b'\n', buffered)
        };
        self.line += 1;
        let text: &[u8] = match newline {
            // The usual case: the whole line is in the buffer; no copy.
            Some(end) => {
                self.used = end + 1;
                &self.input.buffer()[..end]
            }
            None => {
                self.spill.clear();
                let limit = MAX_LINE_BYTES as u64 + 1;
                (&mut self.input)
                    .take(limit)
                    .read_until(b'\n', &mut self.spill)?;
                if self.spill.last() == Some(&b'\n') {
                    self.spill.pop();
                } else if self.spill.len() > MAX_LINE_BYTES {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("a line longer than {MAX_LINE_BYTES} bytes: not an ORATS CSV"),
                    ));
                }
                &self.spill
            }
        };
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        self.ends.clear();
        push_commas(text, &mut self.ends);
        self.ends.push(text.len());
        Ok(Some(Record {
            text,
            ends: &self.ends,
            line: self.line,
        }))
    }
}

/// Appends the offset of every comma in `text` to `ends`.
///
/// Commas come every six bytes or so, too densely for `memchr`'s per-call
/// setup to pay off, and a byte-by-byte loop was 6 % of a conversion. This
/// tests eight bytes at a time: a byte of `x` is zero exactly where `word`
/// has a comma, and `(x & 0x7f…) + 0x7f…` sets a byte's high bit exactly when
/// its low seven bits are not all zero (no carry crosses bytes), so the
/// expression below marks the zero bytes of `x`, with no false positives.
fn push_commas(text: &[u8], ends: &mut Vec<usize>) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const COMMAS: u64 = 0x2c2c_2c2c_2c2c_2c2c;
    let mut words = text.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let x = word ^ COMMAS;
        let mut found = !(((x & LOW7) + LOW7) | x | LOW7);
        while found != 0 {
            ends.push(base + (found.trailing_zeros() / 8) as usize);
            found &= found - 1;
        }
        base += 8;
    }
    let rest = words.remainder();
    ends.extend(
        (0..rest.len())
            .filter(|&i| rest[i] == b',')
            .map(|i| base + i),
    );
}

impl<'a> Record<'a> {
    /// Number of fields (commas + 1).
    pub fn field_count(&self) -> usize {
        self.ends.len()
    }

    /// Whether the record is a blank line.
    pub fn is_blank_line(&self) -> bool {
        self.text.is_empty()
    }

    /// Field `i` (`i < len()`).
    pub fn field(&self, i: usize) -> &'a [u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] + 1 };
        &self.text[start..self.ends[i]]
    }

    /// Every field, in order.
    pub fn fields(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (0..self.field_count()).map(|i| self.field(i))
    }

    /// The record's text as it stood in the file (without the line terminator).
    pub fn text(&self) -> &'a [u8] {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record of `input` as (line, fields), read with a tiny buffer so
    /// lines straddle buffer refills.
    fn split(input: &[u8], capacity: usize) -> Vec<(u64, Vec<String>)> {
        let mut records = Records::new(input, capacity);
        let mut out = Vec::new();
        while let Some(record) = records.next_record().unwrap() {
            let fields = record
                .fields()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            out.push((record.line, fields));
        }
        out
    }

    #[test]
    fn lines_fields_terminators_and_blanks() {
        let input = b"a,b,c\r\n\n1,,3\nx\"y,\"z\n,\nlast,line";
        let expected: Vec<(u64, Vec<String>)> = vec![
            (1, vec!["a".into(), "b".into(), "c".into()]),
            (2, vec!["".into()]),
            (3, vec!["1".into(), "".into(), "3".into()]),
            (4, vec!["x\"y".into(), "\"z".into()]),
            (5, vec!["".into(), "".into()]),
            (6, vec!["last".into(), "line".into()]),
        ];
        for capacity in [1, 2, 3, 5, 8, 64, 1 << 16] {
            assert_eq!(split(input, capacity), expected, "capacity {capacity}");
        }
    }

    #[test]
    fn agrees_with_the_csv_crate_on_unquoted_text() {
        let mut text = String::new();
        for i in 0..2000 {
            let cells: Vec<String> = (0..(i % 7 + 1))
                .map(|j| {
                    if (i + j) % 5 == 0 {
                        String::new()
                    } else {
                        format!("{}.{j}", i * 31 + j)
                    }
                })
                .collect();
            text.push_str(&cells.join(","));
            text.push_str(if i % 3 == 0 { "\r\n" } else { "\n" });
        }
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .quoting(false)
            .from_reader(text.as_bytes());
        // Fields only: after a blank line the csv crate reports the blank line's
        // number for the next record; ours are checked line by line above.
        let theirs: Vec<Vec<String>> = csv
            .byte_records()
            .map(|r| {
                let r = r.unwrap();
                r.iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect()
            })
            .collect();
        // The csv crate skips blank lines (the row reader skips them too).
        assert!(theirs.len() > 1500 && theirs.len() < 2000);
        for capacity in [7, 4096] {
            let ours: Vec<_> = split(text.as_bytes(), capacity)
                .into_iter()
                .map(|(_, fields)| fields)
                .filter(|fields| fields != &[String::new()])
                .collect();
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn commas_are_found_at_every_offset() {
        // Every byte value next to commas at every position of the 8-byte words.
        for len in 0..40 {
            for comma_every in 1..6 {
                for filler in [0u8, 1, b'+', b'-', b'.', 0x7f, 0x80, 0xac, 0xff] {
                    let text: Vec<u8> = (0..len)
                        .map(|i| {
                            if i % comma_every == 0 {
                                b','
                            } else {
                                filler.wrapping_add(i as u8)
                            }
                        })
                        .collect();
                    let mut ends = Vec::new();
                    push_commas(&text, &mut ends);
                    let expected: Vec<usize> = (0..len).filter(|&i| text[i] == b',').collect();
                    assert_eq!(ends, expected, "{text:?}");
                }
            }
        }
    }

    #[test]
    fn empty_input_has_no_records() {
        assert!(split(b"", 16).is_empty());
    }

    #[test]
    fn an_endless_line_is_refused() {
        let input = vec![b'x'; MAX_LINE_BYTES + 10];
        let mut records = Records::new(&input[..], 4096);
        let err = records.next_record().err().expect("refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("longer than"), "{err}");
        assert_eq!(records.line(), 1);

        let fits = vec![b'y'; MAX_LINE_BYTES];
        let mut records = Records::new(&fits[..], 4096);
        assert_eq!(records.next_record().unwrap().unwrap().field_count(), 1);
    }
}
