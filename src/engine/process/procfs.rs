//! Reading `/proc`: a process's state, group and start time, and the members of a group.

use std::io;

/// The fields of `/proc/<pid>/stat` this module needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// Field 3: `R`, `S`, `D`, `Z` (zombie), `X` (dead), …
    pub state: char,
    /// Field 4.
    pub ppid: i32,
    /// Field 5: the process group id.
    pub pgrp: i32,
    /// Field 22: start time after boot, in clock ticks.
    pub start_time: u64,
}

impl ProcStat {
    /// False for a zombie (exited, not yet reaped) or dead task.
    pub fn is_live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses the text of `/proc/<pid>/stat`.
///
/// Field 2, the command name, is in parentheses and may itself hold spaces and parentheses;
/// it ends at the *last* `)` of the line, and the remaining fields are split on whitespace.
pub(crate) fn parse_stat(text: &str) -> Option<ProcStat> {
    let close = text.rfind(')')?;
    let rest = text.get(close + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 of the file.
    let field = |n: usize| fields.get(n - 3).copied();
    Some(ProcStat {
        state: field(3)?.chars().next()?,
        ppid: field(4)?.parse().ok()?,
        pgrp: field(5)?.parse().ok()?,
        start_time: field(22)?.parse().ok()?,
    })
}

/// Reads and parses `/proc/<pid>/stat`.
pub(crate) fn read_stat(pid: u32) -> io::Result<ProcStat> {
    let bytes = std::fs::read(format!("/proc/{pid}/stat"))?;
    parse_stat(&String::from_utf8_lossy(&bytes)).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected format of /proc/{pid}/stat"),
        )
    })
}

/// The start time (field 22 of `/proc/<pid>/stat`, clock ticks after boot) of a process.
/// Together with the pid it names one process for good: a reused pid has a later start time.
pub fn read_start_time(pid: u32) -> io::Result<u64> {
    read_stat(pid).map(|s| s.start_time)
}

/// The pids of the live (not zombie) processes in process group `pgid`.
pub(crate) fn live_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            read_stat(*pid)
                .map(|s| i64::from(s.pgrp) == i64::from(pgid) && s.is_live())
                .unwrap_or(false)
        })
        .collect();
    pids.sort_unstable();
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let tail = "S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
        for comm in ["sleep", "my prog", "a) (b", "))(", "x) S 9 9 9"] {
            let line = format!("4242 ({comm}) {tail}\n");
            let s = parse_stat(&line).expect("parses");
            assert_eq!(
                s,
                ProcStat {
                    state: 'S',
                    ppid: 1,
                    pgrp: 4242,
                    start_time: 987654
                },
                "comm {comm:?}"
            );
        }
        assert_eq!(parse_stat("4242 (short) S 1 2"), None);
        assert_eq!(parse_stat("no parens at all"), None);
    }

    #[test]
    fn reads_this_process() {
        let me = read_stat(std::process::id()).expect("own stat");
        assert!(me.is_live());
        assert!(me.start_time > 0);
        assert_eq!(
            read_start_time(std::process::id()).ok(),
            Some(me.start_time)
        );
    }
}
