//! RESP2, the Redis protocol: parsing commands out of the bytes a read brought, and
//! writing replies.
//!
//! A command is an array of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`), or an
//! "inline" line of words (`PING\r\n`, what a person types into telnet).

use std::io::Write;

/// The largest bulk string accepted (Redis's `proto-max-bulk-len` is 512 MB).
pub const MAX_BULK: usize = 64 << 20;
/// The most arguments one command may have.
const MAX_ARGS: usize = 1 << 20;
/// The longest inline command.
const MAX_INLINE: usize = 64 << 10;

/// What the parser found at the front of the buffer.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// A command: its arguments are in the `args` vector passed in, as ranges of the
    /// buffer; `usize` bytes were used.
    Command(usize),
    /// Not a whole command yet: read more.
    Incomplete,
    /// The bytes are not RESP: reply with this error and close the connection.
    Malformed(String),
}

/// Parses one command from the front of `buf`, pushing each argument's byte range onto
/// `args` (cleared first).
pub fn parse(buf: &[u8], args: &mut Vec<(usize, usize)>) -> Parsed {
    args.clear();
    match buf.first() {
        None => Parsed::Incomplete,
        Some(b'*') => parse_array(buf, args),
        Some(_) => parse_inline(buf, args),
    }
}

fn parse_array(buf: &[u8], args: &mut Vec<(usize, usize)>) -> Parsed {
    let Some((count, mut at)) = line(buf, 1) else {
        return incomplete_unless_too_long(buf, "multibulk count");
    };
    let count = match parse_int(count) {
        Some(n) if n <= 0 => return Parsed::Command(at), // `*0` / `*-1`: nothing to run
        Some(n) if (n as usize) <= MAX_ARGS => n as usize,
        _ => return Parsed::Malformed("Protocol error: invalid multibulk length".into()),
    };
    for _ in 0..count {
        match buf.get(at) {
            None => return Parsed::Incomplete,
            Some(b'$') => {}
            Some(&other) => {
                return Parsed::Malformed(format!(
                    "Protocol error: expected '$', got '{}'",
                    other as char
                ));
            }
        }
        let Some((len, start)) = line(buf, at + 1) else {
            return incomplete_unless_too_long(&buf[at..], "bulk length");
        };
        let len = match parse_int(len) {
            Some(n) if n >= 0 && (n as usize) <= MAX_BULK => n as usize,
            _ => return Parsed::Malformed("Protocol error: invalid bulk length".into()),
        };
        let end = start + len;
        if buf.len() < end + 2 {
            return Parsed::Incomplete;
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Parsed::Malformed("Protocol error: bulk string not ended by CRLF".into());
        }
        args.push((start, end));
        at = end + 2;
    }
    Parsed::Command(at)
}

fn parse_inline(buf: &[u8], args: &mut Vec<(usize, usize)>) -> Parsed {
    let Some(newline) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_INLINE {
            Parsed::Malformed("Protocol error: too big inline request".into())
        } else {
            Parsed::Incomplete
        };
    };
    let end = if newline > 0 && buf[newline - 1] == b'\r' {
        newline - 1
    } else {
        newline
    };
    let mut i = 0;
    while i < end {
        if buf[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < end && !buf[i].is_ascii_whitespace() {
            i += 1;
        }
        args.push((start, i));
    }
    Parsed::Command(newline + 1)
}

/// The line starting at `from`, without its CRLF, and where the next one starts.
fn line(buf: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(from..)?;
    let cr = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..cr], from + cr + 2))
}

fn incomplete_unless_too_long(buf: &[u8], what: &str) -> Parsed {
    // A count or length line is a few digits; without a CRLF in sight after 32 bytes the
    // peer is not speaking RESP.
    if buf.len() > 32 {
        Parsed::Malformed(format!("Protocol error: invalid {what}"))
    } else {
        Parsed::Incomplete
    }
}

/// A parsed command's arguments: byte ranges of the read buffer (no copy).
#[derive(Clone, Copy)]
pub struct Args<'a> {
    pub buf: &'a [u8],
    pub ranges: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    /// How many arguments, the command's name included.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Argument `i` (0 is the command's name).
    pub fn get(&self, i: usize) -> &'a [u8] {
        let (start, end) = self.ranges[i];
        &self.buf[start..end]
    }

    /// Arguments `from..`.
    pub fn iter_from(&self, from: usize) -> impl Iterator<Item = &'a [u8]> + '_ {
        (from..self.len()).map(|i| self.get(i))
    }
}

/// A decimal integer, exactly (no sign but `-`, no spaces, no leading `+`).
pub fn parse_int(digits: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(digits).ok()?;
    if text.starts_with('+') || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

/// `+OK`-style status.
pub fn simple(out: &mut Vec<u8>, text: &str) {
    out.push(b'+');
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `-ERR ...`.
pub fn error(out: &mut Vec<u8>, text: &str) {
    out.push(b'-');
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `:42`.
pub fn integer(out: &mut Vec<u8>, n: i64) {
    let _ = write!(out, ":{n}\r\n");
}

/// `$5\r\nhello`.
pub fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    let _ = write!(out, "${}\r\n", bytes.len());
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// The null bulk string: "no such key".
pub fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

/// `*0`: an empty array.
pub fn empty_array(out: &mut Vec<u8>) {
    out.extend_from_slice(b"*0\r\n");
}
