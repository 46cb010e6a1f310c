//! Build output as appended chunks (DESIGN "Data"): appending N lines is
//! one INSERT of one row, never a rewrite of what is stored, so a
//! million-line build costs what its bytes cost. Reading concatenates the
//! chunks in order; a follower remembers the last `seq` it saw and asks for
//! what came after.
//!
//! `seq` counts from 1 per (build, stream) and is computed inside the
//! INSERT (`MAX(seq) + 1`, one index probe); two concurrent writers of the
//! same stream collide on the primary key and the loser retries, so the
//! numbers stay dense and ordered by commit.
//!
//! Text is stored the same way on both backends: PostgreSQL's `text`
//! refuses NUL, so every NUL byte is stored as U+FFFD, the character that
//! already stands for bytes that are not UTF-8 (see [`storable`]).

use super::schema::build_output::dsl as t;
use super::{DbConn, DbError};
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Integer, SmallInt, Text};

/// Which text of a build.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    /// What the build script prints.
    Output,
    /// Housekeeping: commands run, checkout, triggers, pipeline evaluation.
    Messages,
}

impl OutputStream {
    fn code(self) -> i16 {
        match self {
            OutputStream::Output => 0,
            OutputStream::Messages => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OutputStream::Output => "output",
            OutputStream::Messages => "messages",
        }
    }
}

/// `(seq, line_count, body)` rows, oldest first, read after `after_seq`,
/// as one [`OutputRead`].
fn joined(rows: Vec<(i64, i32, String)>, after_seq: i64) -> OutputRead {
    let mut read = OutputRead {
        text: String::with_capacity(rows.iter().map(|r| r.2.len()).sum()),
        last_seq: after_seq,
        chunks: rows.len(),
        lines: 0,
    };
    for (seq, count, body) in rows {
        read.text.push_str(&body);
        read.last_seq = seq;
        read.lines += i64::from(count);
    }
    read
}

/// What [`read_output`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputRead {
    /// The chunks after `after_seq`, concatenated (each line ends in `\n`).
    pub text: String,
    /// The `seq` of the last chunk returned, or `after_seq` when none was;
    /// pass it as `after_seq` to read what comes next.
    pub last_seq: i64,
    /// How many chunks were read.
    pub chunks: usize,
    /// How many lines they hold.
    pub lines: i64,
}

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

const SQLITE_APPEND: &str = "INSERT INTO build_output (build_id, stream, seq, line_count, body) \
     SELECT ?, ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM build_output \
     WHERE build_id = ? AND stream = ? RETURNING seq";
const POSTGRES_APPEND: &str = "INSERT INTO build_output (build_id, stream, seq, line_count, body) \
     SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4 FROM build_output \
     WHERE build_id = $1 AND stream = $2 RETURNING seq";

/// Appends `lines` (each without its newline) to a stream of build
/// `build_id` as one chunk; returns the chunk's `seq`. Appending nothing
/// stores nothing and returns 0.
pub fn append_output<S: AsRef<str>>(
    conn: &mut DbConn,
    build_id: i64,
    stream: OutputStream,
    lines: &[S],
) -> Result<i64, DbError> {
    if lines.is_empty() {
        return Ok(0);
    }
    let mut body = String::with_capacity(lines.iter().map(|l| l.as_ref().len() + 1).sum());
    for line in lines {
        body.push_str(line.as_ref());
        body.push('\n');
    }
    let count = i32::try_from(lines.len()).unwrap_or(i32::MAX);
    append_body(conn, build_id, stream, count, &body)
}

/// Appends already-joined text (lines ending in `\n`) holding
/// `line_count` lines as one chunk.
pub fn append_body(
    conn: &mut DbConn,
    build_id: i64,
    stream: OutputStream,
    line_count: i32,
    body: &str,
) -> Result<i64, DbError> {
    let code = stream.code();
    let body = storable(body);
    let body: &str = &body;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = match conn {
            DbConn::Sqlite(c) => diesel::sql_query(SQLITE_APPEND)
                .bind::<BigInt, _>(build_id)
                .bind::<SmallInt, _>(code)
                .bind::<Integer, _>(line_count)
                .bind::<Text, _>(body)
                .bind::<BigInt, _>(build_id)
                .bind::<SmallInt, _>(code)
                .get_result::<Seq>(c),
            DbConn::Postgres(c) => diesel::sql_query(POSTGRES_APPEND)
                .bind::<BigInt, _>(build_id)
                .bind::<SmallInt, _>(code)
                .bind::<Integer, _>(line_count)
                .bind::<Text, _>(body)
                .get_result::<Seq>(c),
        };
        match result {
            Ok(s) => return Ok(s.seq),
            Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
                return Err(DbError::not_found("build", build_id));
            }
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
                if attempts < MAX_APPEND_ATTEMPTS && !in_transaction(conn)? =>
            {
                backoff(attempts);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// `text` as both backends store it: NUL bytes (which PostgreSQL's `text`
/// refuses, failing the whole chunk) become U+FFFD, as invalid UTF-8 does
/// when output is read. Borrowed when there is none (nearly always).
pub fn storable(text: &str) -> std::borrow::Cow<'_, str> {
    if memchr::memchr(0, text.as_bytes()).is_none() {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(text.replace('\0', "\u{FFFD}"))
}

/// How often an append retries a lost race for the next sequence number.
/// Races need concurrent writers to one build's stream (the worker's store
/// and a stop's message); on a loaded machine twenty tries were seen to run
/// out, and each costs at most 2 ms.
const MAX_APPEND_ATTEMPTS: u32 = 200;

/// A short random pause before retrying a lost race. Without it the
/// writer that just won starts its next INSERT first and wins again: on
/// PostgreSQL, three writers appending in a loop starved one for twenty
/// rounds.
fn backoff(attempt: u32) {
    let bound = 100 * attempt.min(20);
    let jitter = getrandom::u32().unwrap_or(bound / 2) % bound;
    std::thread::sleep(std::time::Duration::from_micros(u64::from(jitter)));
}

fn in_transaction(conn: &mut DbConn) -> Result<bool, DbError> {
    let status = match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::transaction_manager_status_mut(c),
        DbConn::Postgres(c) => AnsiTransactionManager::transaction_manager_status_mut(c),
    };
    Ok(status.transaction_depth()?.is_some())
}

/// Everything of a stream after chunk `after_seq` (0: from the start).
pub fn read_output(
    conn: &mut DbConn,
    build_id: i64,
    stream: OutputStream,
    after_seq: i64,
) -> Result<OutputRead, DbError> {
    read_output_limited(conn, build_id, stream, after_seq, i64::MAX)
}

/// Like [`read_output`], at most `max_chunks` chunks (a follower reading a
/// long log in steps).
pub fn read_output_limited(
    conn: &mut DbConn,
    build_id: i64,
    stream: OutputStream,
    after_seq: i64,
    max_chunks: i64,
) -> Result<OutputRead, DbError> {
    let rows: Vec<(i64, i32, String)> = t::build_output
        .filter(t::build_id.eq(build_id))
        .filter(t::stream.eq(stream.code()))
        .filter(t::seq.gt(after_seq))
        .order(t::seq.asc())
        .limit(max_chunks.max(1))
        .select((t::seq, t::line_count, t::body))
        .load(conn)?;
    Ok(joined(rows, after_seq))
}

/// The end of a stream's text before chunk `before_seq` (`None`: the
/// end of the stream): whole chunks, newest last, holding at least
/// `min_lines` lines when there are that many (a huge log's page shows its
/// tail first).
pub fn read_output_tail(
    conn: &mut DbConn,
    build_id: i64,
    stream: OutputStream,
    before_seq: Option<i64>,
    min_lines: i64,
) -> Result<OutputTail, DbError> {
    let before = before_seq.unwrap_or(i64::MAX);
    let counts: Vec<(i64, i32)> = t::build_output
        .filter(t::build_id.eq(build_id))
        .filter(t::stream.eq(stream.code()))
        .filter(t::seq.lt(before))
        .order(t::seq.desc())
        .select((t::seq, t::line_count))
        .load(conn)?;
    let mut lines = 0i64;
    let mut start = None;
    for (seq, count) in &counts {
        if lines >= min_lines.max(1) {
            break;
        }
        lines += i64::from(*count);
        start = Some(*seq);
    }
    let Some(start) = start else {
        return Ok(OutputTail::default());
    };
    let read = read_output_between(conn, build_id, stream, start - 1, before)?;
    Ok(OutputTail {
        earlier_lines: counts
            .iter()
            .filter(|(seq, _)| *seq < start)
            .map(|(_, c)| i64::from(*c))
            .sum(),
        start_seq: start,
        read,
    })
}

/// The chunks of a stream with `after_seq < seq < before_seq`.
pub fn read_output_between(
    conn: &mut DbConn,
    build_id: i64,
    stream: OutputStream,
    after_seq: i64,
    before_seq: i64,
) -> Result<OutputRead, DbError> {
    let rows: Vec<(i64, i32, String)> = t::build_output
        .filter(t::build_id.eq(build_id))
        .filter(t::stream.eq(stream.code()))
        .filter(t::seq.gt(after_seq))
        .filter(t::seq.lt(before_seq))
        .order(t::seq.asc())
        .select((t::seq, t::line_count, t::body))
        .load(conn)?;
    Ok(joined(rows, after_seq))
}

/// What [`read_output_tail`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputTail {
    /// The tail's chunks.
    pub read: OutputRead,
    /// The tail's first chunk: what comes before is
    /// [`read_output_between`] `(0, start_seq)`.
    pub start_seq: i64,
    /// How many lines come before the tail.
    pub earlier_lines: i64,
}

/// The `seq` of the last chunk of a stream (0 when there is none).
pub fn last_seq(conn: &mut DbConn, build_id: i64, stream: OutputStream) -> Result<i64, DbError> {
    let max: Option<i64> = t::build_output
        .filter(t::build_id.eq(build_id))
        .filter(t::stream.eq(stream.code()))
        .select(diesel::dsl::max(t::seq))
        .first(conn)?;
    Ok(max.unwrap_or(0))
}

/// The chunks of a stream after `after_seq`, each on its own (`seq`,
/// text), at most `max_chunks` of them: what a live follower sends one
/// event per chunk.
pub fn read_chunks(
    conn: &mut DbConn,
    build_id: i64,
    stream: OutputStream,
    after_seq: i64,
    max_chunks: i64,
) -> Result<Vec<(i64, String)>, DbError> {
    Ok(t::build_output
        .filter(t::build_id.eq(build_id))
        .filter(t::stream.eq(stream.code()))
        .filter(t::seq.gt(after_seq))
        .order(t::seq.asc())
        .limit(max_chunks.max(1))
        .select((t::seq, t::body))
        .load(conn)?)
}

#[derive(QueryableByName)]
struct ChunkSize {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

const SQLITE_SIZES: &str = "SELECT seq, CAST(length(CAST(body AS BLOB)) AS INTEGER) AS bytes \
     FROM build_output WHERE build_id = ? AND stream = ? ORDER BY seq";
const POSTGRES_SIZES: &str = "SELECT seq, CAST(octet_length(body) AS BIGINT) AS bytes \
     FROM build_output WHERE build_id = $1 AND stream = $2 ORDER BY seq";

/// The byte size of every chunk of a stream, in order (no text is read).
fn chunk_sizes(
    conn: &mut DbConn,
    build_id: i64,
    stream: OutputStream,
) -> Result<Vec<ChunkSize>, DbError> {
    let code = stream.code();
    Ok(match conn {
        DbConn::Sqlite(c) => diesel::sql_query(SQLITE_SIZES)
            .bind::<BigInt, _>(build_id)
            .bind::<SmallInt, _>(code)
            .load(c)?,
        DbConn::Postgres(c) => diesel::sql_query(POSTGRES_SIZES)
            .bind::<BigInt, _>(build_id)
            .bind::<SmallInt, _>(code)
            .load(c)?,
    })
}

/// Which bytes of a stored log are asked for (HTTP `Range: bytes=...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// Everything.
    All,
    /// From byte `a` (counting from 0) to the end.
    From(u64),
    /// Bytes `a` to `b`, both included (`b` past the end means the end).
    Between(u64, u64),
    /// The last `n` bytes.
    Suffix(u64),
}

/// What [`read_range`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRange {
    /// The bytes asked for (UTF-8 text, possibly cut inside a character at
    /// either end by the range).
    pub bytes: Vec<u8>,
    /// The first and last byte returned (`bytes` is empty when the log is).
    pub start: u64,
    pub end: u64,
    /// The size of the whole stream.
    pub total: u64,
    /// The `seq` of the stream's last chunk (changes with every append).
    pub last_seq: i64,
    /// The range lies wholly past the end: nothing returned.
    pub unsatisfiable: bool,
}

/// Bytes `range` of a stream, reading only the chunks that hold them
/// (their sizes are read first, without their text).
pub fn read_range(
    conn: &mut DbConn,
    build_id: i64,
    stream: OutputStream,
    range: ByteRange,
) -> Result<LogRange, DbError> {
    let sizes = chunk_sizes(conn, build_id, stream)?;
    let total: u64 = sizes.iter().map(|c| c.bytes.max(0) as u64).sum();
    let last_seq = sizes.last().map_or(0, |c| c.seq);
    let (start, end) = match range {
        ByteRange::All => (0, total.saturating_sub(1)),
        ByteRange::From(a) => (a, total.saturating_sub(1)),
        ByteRange::Between(a, b) => (a, b.min(total.saturating_sub(1))),
        ByteRange::Suffix(n) => (total.saturating_sub(n), total.saturating_sub(1)),
    };
    let mut read = LogRange {
        bytes: Vec::new(),
        start,
        end,
        total,
        last_seq,
        unsatisfiable: false,
    };
    let empty_ask = matches!(range, ByteRange::Suffix(0));
    if total == 0 || start >= total || start > end || empty_ask {
        // An empty log read whole is an empty answer, not a refusal.
        read.unsatisfiable = range != ByteRange::All;
        read.start = 0;
        read.end = 0;
        return Ok(read);
    }
    // The chunks that hold [start, end], and the offset of the first.
    let mut offset = 0u64;
    let (mut first, mut last, mut first_offset) = (None, None, 0u64);
    for c in &sizes {
        let len = c.bytes.max(0) as u64;
        if first.is_none() && offset + len > start {
            first = Some(c.seq);
            first_offset = offset;
        }
        if offset <= end {
            last = Some(c.seq);
        }
        offset += len;
    }
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(read);
    };
    let bodies: Vec<String> = t::build_output
        .filter(t::build_id.eq(build_id))
        .filter(t::stream.eq(stream.code()))
        .filter(t::seq.between(first, last))
        .order(t::seq.asc())
        .select(t::body)
        .load(conn)?;
    let mut joined = Vec::with_capacity(bodies.iter().map(String::len).sum());
    for b in bodies {
        joined.extend_from_slice(b.as_bytes());
    }
    let from = (start - first_offset) as usize;
    let to = ((end - first_offset) as usize + 1).min(joined.len());
    read.bytes = joined.get(from..to).unwrap_or_default().to_vec();
    Ok(read)
}
