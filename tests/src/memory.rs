//! The resident memory of a process, as the benchmarks report it: from
//! `/proc/PID/status` and, by mapping, `/proc/PID/smaps`.

/// A memory figure of `/proc/PID/status` (`VmRSS`, `RssAnon`), in MiB.
pub fn mem_mib(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Where the resident memory of `pid` is, in MiB: the `vespene` binary,
/// the plugins, other shared libraries, anonymous memory (heap, thread
/// stacks, malloc arenas), summed over `/proc/PID/smaps`; and the number
/// of threads.
pub fn rss_parts(pid: u32) -> String {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let (mut binary, mut plugins, mut libs, mut anon) = (0u64, 0u64, 0u64, 0u64);
    let mut plugin_files = 0;
    let mut current = String::new();
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            current = words.nth(4).unwrap_or_default().to_string();
            if current.contains("libvespene_plugin_") && line.contains("r-xp") {
                plugin_files += 1;
            }
        } else if first == "Rss:" {
            let kb: u64 = words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            let slot = if current.ends_with("/vespene") {
                &mut binary
            } else if current.contains("libvespene_plugin_") {
                &mut plugins
            } else if current.starts_with('/') {
                &mut libs
            } else {
                &mut anon
            };
            *slot += kb;
        }
    }
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0);
    let mib = |kb: u64| kb as f64 / 1024.0;
    format!(
        "binary {:.1}, {plugin_files} plugins {:.1}, other libraries {:.1}, \
         anonymous {:.1} MiB; {threads} threads",
        mib(binary),
        mib(plugins),
        mib(libs),
        mib(anon)
    )
}

/// `VmRSS` and `RssAnon` (the private part), in MiB.
pub fn rss(pid: u32) -> (f64, f64) {
    (mem_mib(pid, "VmRSS:"), mem_mib(pid, "RssAnon:"))
}
