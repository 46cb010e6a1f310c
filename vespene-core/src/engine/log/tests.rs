use super::*;

#[derive(Default)]
struct Memory {
    output: String,
    messages: String,
    appends: usize,
}

impl LogStore for &mut Memory {
    fn append(&mut self, stream: Stream, text: &mut String) -> Result<(), String> {
        self.appends += 1;
        match stream {
            Stream::Output => self.output.push_str(text),
            _ => self.messages.push_str(text),
        }
        text.clear();
        Ok(())
    }
}

#[test]
fn set_lines_follow_the_original_rules() {
    assert_eq!(
        parse_set_line("vespene/set version 1.2"),
        Some(("version".into(), "1.2".into()))
    );
    assert_eq!(
        parse_set_line(r#"vespene/set msg "hello world""#),
        Some(("msg".into(), "hello world".into()))
    );
    assert_eq!(parse_set_line("vespene/set only_name"), None);
    assert_eq!(parse_set_line("vespene/set a b c"), None);
    assert_eq!(parse_set_line("vespene/settle a b"), None);
    assert_eq!(parse_set_line("echo vespene/set a b"), None);
    assert_eq!(parse_set_line("vespene/set 'unterminated b"), None);
}

#[test]
fn ansi_sequences_are_removed() {
    assert_eq!(strip_ansi("plain"), "plain");
    assert!(matches!(strip_ansi("plain"), Cow::Borrowed(_)));
    assert_eq!(strip_ansi("\x1b[1;31mred\x1b[0m text"), "red text");
}

#[test]
fn lines_are_batched_variables_collected_and_nothing_is_lost() {
    let mut mem = Memory::default();
    let mut log = BuildLog::new(FilterChain::new(Vec::new()), &mut mem);
    for i in 0..10_000 {
        log.line(Stream::Output, &format!("line {i}"));
    }
    log.line(Stream::Output, "\x1b[32mvespene/set answer 42\x1b[0m");
    log.message("a message\nof two lines");
    let (_, vars) = log.finish();
    assert_eq!(vars.get("answer"), Some(&Value::String("42".into())));
    assert_eq!(mem.output.lines().count(), 10_001);
    assert!(mem.output.starts_with("line 0\nline 1\n"));
    assert!(mem.output.ends_with("line 9999\nvespene/set answer 42\n"));
    assert_eq!(mem.messages, "a message\nof two lines\n");
    assert!(mem.appends < 50, "{} appends for 10,001 lines", mem.appends);
}

#[test]
fn a_failing_store_keeps_the_text_for_the_next_flush() {
    struct Flaky {
        fail: bool,
        got: String,
    }
    impl LogStore for &mut Flaky {
        fn append(&mut self, _: Stream, text: &mut String) -> Result<(), String> {
            if self.fail {
                self.fail = false;
                return Err("database is locked".into());
            }
            self.got.push_str(text);
            text.clear();
            Ok(())
        }
    }
    let mut f = Flaky {
        fail: true,
        got: String::new(),
    };
    let mut log = BuildLog::new(FilterChain::new(Vec::new()), &mut f);
    log.line(Stream::Output, "one");
    log.flush();
    assert_eq!(log.store_error(), Some("database is locked"));
    log.line(Stream::Output, "two");
    log.finish();
    assert_eq!(f.got, "one\ntwo\n");
}

#[test]
fn output_variables_are_capped_by_count_and_bytes_with_one_message() {
    // (count limit, byte limit, lines) → variables kept, refusal reported
    let cases: &[(usize, usize, usize, usize)] = &[
        (3, 1 << 20, 10, 3),
        (1000, 40, 10, 4), // "vN" + "value-N" = 9 bytes each: 4 fit in 40
        (1000, 1 << 20, 10, 10),
    ];
    for &(count, bytes, lines, kept) in cases {
        let mut mem = Memory::default();
        let mut log = BuildLog::new(FilterChain::new(Vec::new()), &mut mem);
        log.limit_variables(VariableLimits { count, bytes });
        for i in 0..lines {
            log.line(Stream::Output, &format!("vespene/set v{i} value-{i}"));
        }
        // Replacing a kept variable stays within the budget.
        log.line(Stream::Output, "vespene/set v0 again-0");
        let (_, vars) = log.finish();
        assert_eq!(vars.len(), kept, "{count} {bytes}");
        assert_eq!(vars.get("v0"), Some(&Value::String("again-0".into())));
        let refusals = mem.messages.lines().count();
        assert_eq!(refusals, usize::from(kept < lines), "{}", mem.messages);
        assert_eq!(
            mem.output.lines().count(),
            lines + 1,
            "output is kept whole"
        );
    }
}

#[test]
fn relayed_lines_are_stored_at_the_first_tick_once_old_enough() {
    // A runner child's lines, relayed chunk by chunk with a tick after
    // each: a batch goes out at the first tick once it is FLUSH_AGE old.
    let mut mem = Memory::default();
    let mut log = BuildLog::new(FilterChain::new(Vec::new()), &mut mem);
    log.relayed(Stream::Output, "first");
    log.relayed(Stream::Output, "second");
    log.tick();
    std::thread::sleep(FLUSH_AGE);
    log.relayed(Stream::Output, "third");
    log.tick();
    log.relayed(Stream::Output, "fourth");
    let (store, _) = log.finish();
    assert_eq!(store.output, "first\nsecond\nthird\nfourth\n");
    assert_eq!(store.appends, 2, "the first three lines, then the last");
}
