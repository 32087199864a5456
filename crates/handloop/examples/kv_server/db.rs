//! The key-value store and the commands that act on it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use crate::resp::{self, Args};

/// What a command tells the connection to do next.
#[derive(Debug, PartialEq)]
pub enum Flow {
    Continue,
    /// `QUIT`: send what is queued, then close.
    Close,
}

struct Entry {
    value: Vec<u8>,
    /// When the key expires, and the number of the `SET` that set it: the timer callback
    /// removes the key only if no later `SET` replaced it.
    expiry: Option<(Instant, u64)>,
}

impl Entry {
    /// Whether the expiry passed (by the loop's clock); the timer removes such keys at
    /// their deadline, this catches the ones asked for in between.
    fn is_expired(&self) -> bool {
        self.expiry
            .is_some_and(|(at, _)| at <= handloop::time::now())
    }
}

/// Every key on this loop. One loop, one thread: a `RefCell`, no lock.
#[derive(Default)]
pub struct Db {
    map: RefCell<HashMap<Vec<u8>, Entry>>,
    sets: Cell<u64>,
    /// Itself, for the expiry callbacks (which must not keep the store alive).
    this: Weak<Db>,
}

impl Db {
    pub fn new() -> Rc<Db> {
        Rc::new_cyclic(|this| Db {
            this: this.clone(),
            ..Db::default()
        })
    }

    /// Runs the command `args` (its name first, at least that), appending its reply to
    /// `out`.
    pub fn execute(&self, args: Args<'_>, out: &mut Vec<u8>) -> Flow {
        let name = args.get(0);
        let count = args.len() - 1; // arguments after the name
        let arg = |i: usize| args.get(i + 1);
        let mut upper = [0u8; 16];
        let name_len = name.len().min(upper.len());
        upper[..name_len].copy_from_slice(&name[..name_len]);
        upper.make_ascii_uppercase();
        let command = if name.len() <= upper.len() {
            &upper[..name_len]
        } else {
            &b""[..]
        };
        let arity_ok = match command {
            b"GET" | b"INCR" | b"ECHO" => count == 1,
            b"SET" => count >= 2,
            b"DEL" | b"EXISTS" | b"CONFIG" => count >= 1,
            b"PING" => count <= 1,
            b"DBSIZE" => count == 0,
            _ => true,
        };
        if !arity_ok {
            let name = String::from_utf8_lossy(name).to_lowercase();
            resp::error(
                out,
                &format!("ERR wrong number of arguments for '{name}' command"),
            );
            return Flow::Continue;
        }
        match command {
            b"GET" => match self.live(arg(0)) {
                Some(value) => resp::bulk(out, &value),
                None => resp::null(out),
            },
            b"SET" => self.set(args, out),
            b"DEL" => {
                let removed = args
                    .iter_from(1)
                    .filter(|key| self.remove_live(key))
                    .count();
                resp::integer(out, removed as i64);
            }
            b"EXISTS" => {
                let found = args
                    .iter_from(1)
                    .filter(|key| self.live(key).is_some())
                    .count();
                resp::integer(out, found as i64);
            }
            b"INCR" => self.incr(arg(0), out),
            b"PING" => match count {
                0 => resp::simple(out, "PONG"),
                _ => resp::bulk(out, arg(0)),
            },
            b"ECHO" => resp::bulk(out, arg(0)),
            b"DBSIZE" => resp::integer(out, self.map.borrow().len() as i64),
            b"FLUSHALL" | b"FLUSHDB" => {
                // Taken out first: no borrow is held while the values drop.
                let all = std::mem::take(&mut *self.map.borrow_mut());
                drop(all);
                resp::simple(out, "OK");
            }
            // Enough for redis-benchmark (CONFIG GET save) and redis-cli (COMMAND DOCS)
            // to start: we have no configuration and describe no commands.
            b"CONFIG" if arg(0).eq_ignore_ascii_case(b"GET") => resp::empty_array(out),
            b"COMMAND" => resp::empty_array(out),
            b"QUIT" => {
                resp::simple(out, "OK");
                return Flow::Close;
            }
            _ => unknown(args, out),
        }
        Flow::Continue
    }

    /// The value of `key`, unless it is missing or expired: one hash lookup. An expired
    /// key whose timer has not run yet (same loop turn) is removed here.
    fn live(&self, key: &[u8]) -> Option<std::cell::Ref<'_, [u8]>> {
        let entry = std::cell::Ref::filter_map(self.map.borrow(), |map| map.get(key)).ok()?;
        if entry.is_expired() {
            drop(entry);
            let removed = self.map.borrow_mut().remove(key);
            drop(removed);
            return None;
        }
        Some(std::cell::Ref::map(entry, |entry| entry.value.as_slice()))
    }

    fn remove_live(&self, key: &[u8]) -> bool {
        let removed = self.map.borrow_mut().remove(key);
        removed.is_some_and(|entry| !entry.is_expired())
    }

    /// `SET key value [EX seconds | PX milliseconds]`.
    fn set(&self, args: Args<'_>, out: &mut Vec<u8>) {
        let (key, value) = (args.get(1), args.get(2));
        let ttl = match args.len() {
            3 => None,
            5 => {
                let (unit, amount) = (args.get(3), args.get(4));
                let per_unit = if unit.eq_ignore_ascii_case(b"EX") {
                    1000
                } else if unit.eq_ignore_ascii_case(b"PX") {
                    1
                } else {
                    return resp::error(out, "ERR syntax error");
                };
                match resp::parse_int(amount) {
                    Some(n) if n > 0 => match (n as u64).checked_mul(per_unit) {
                        Some(ms) => Some(Duration::from_millis(ms)),
                        None => {
                            return resp::error(out, "ERR invalid expire time in 'set' command");
                        }
                    },
                    Some(_) => {
                        return resp::error(out, "ERR invalid expire time in 'set' command");
                    }
                    None => return resp::error(out, "ERR value is not an integer or out of range"),
                }
            }
            _ => return resp::error(out, "ERR syntax error"),
        };
        let number = self.sets.get() + 1;
        self.sets.set(number);
        let expiry = ttl.map(|ttl| {
            // Expiry runs on the loop's timer: a callback removes the key at its deadline
            // (unless a later SET replaced it).
            let (db, key) = (self.this.clone(), key.to_vec());
            handloop::call_later(ttl, move || {
                if let Some(db) = db.upgrade() {
                    db.expire(&key, number);
                }
            });
            (handloop::time::now() + ttl, number)
        });
        let entry = Entry {
            value: value.to_vec(),
            expiry,
        };
        let replaced = self.map.borrow_mut().insert(key.to_vec(), entry);
        drop(replaced);
        resp::simple(out, "OK");
    }

    /// The timer's callback: removes `key` if the `SET` numbered `number` still holds it.
    fn expire(&self, key: &[u8], number: u64) {
        let mut map = self.map.borrow_mut();
        if let Some(Entry {
            expiry: Some((_, set_by)),
            ..
        }) = map.get(key)
            && *set_by == number
        {
            let removed = map.remove(key);
            drop(map);
            drop(removed);
        }
    }

    /// `INCR key`: the value must be a decimal 64-bit integer; a missing key counts as 0.
    fn incr(&self, key: &[u8], out: &mut Vec<u8>) {
        let expired = self.map.borrow().get(key).is_some_and(Entry::is_expired);
        if expired {
            let removed = self.map.borrow_mut().remove(key);
            drop(removed);
        }
        let mut map = self.map.borrow_mut();
        let current = match map.get(key) {
            None => 0,
            Some(entry) => match resp::parse_int(&entry.value) {
                Some(n) => n,
                None => return resp::error(out, "ERR value is not an integer or out of range"),
            },
        };
        let Some(next) = current.checked_add(1) else {
            return resp::error(out, "ERR increment or decrement would overflow");
        };
        let value = next.to_string().into_bytes();
        match map.get_mut(key) {
            Some(entry) => entry.value = value,
            None => {
                map.insert(
                    key.to_vec(),
                    Entry {
                        value,
                        expiry: None,
                    },
                );
            }
        }
        resp::integer(out, next);
    }
}

/// Redis's reply to a command it does not know.
fn unknown(args: Args<'_>, out: &mut Vec<u8>) {
    let mut text = format!(
        "ERR unknown command '{}', with args beginning with: ",
        String::from_utf8_lossy(args.get(0))
    );
    for arg in args.iter_from(1).take(8) {
        text.push_str(&format!("'{}' ", String::from_utf8_lossy(arg)));
    }
    resp::error(out, &text);
}
