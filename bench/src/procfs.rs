//! CPU time and resident memory of a process, read from Linux `/proc` (proc(5)).

use std::time::Duration;

/// Which process to sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// The load generator itself (all its threads).
    Myself,
    /// Another process, by id: the server under test.
    Pid(u32),
}

/// One reading of a process's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcSample {
    /// User plus system CPU time of every thread so far.
    pub cpu: Duration,
    /// Resident set size (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Threads of the process (`Threads`).
    pub threads: u32,
}

/// Why a process could not be sampled.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: unexpected format")]
    Format { path: String },
}

impl Process {
    fn dir(self) -> String {
        match self {
            Process::Myself => "/proc/self".to_owned(),
            Process::Pid(pid) => format!("/proc/{pid}"),
        }
    }

    /// Reads `stat` (utime, stime) and `status` (VmRSS) now.
    pub fn sample(self) -> Result<ProcSample, ProcError> {
        let dir = self.dir();
        let stat_path = format!("{dir}/stat");
        let stat = read(&stat_path)?;
        let ticks = cpu_ticks(&stat).ok_or(ProcError::Format { path: stat_path })?;
        let status_path = format!("{dir}/status");
        let status = read(&status_path)?;
        let rss_kib = status_field(&status, "VmRSS:").ok_or(ProcError::Format {
            path: status_path.clone(),
        })?;
        let threads =
            status_field(&status, "Threads:").ok_or(ProcError::Format { path: status_path })?;
        Ok(ProcSample {
            cpu: ticks_to_duration(ticks),
            rss_kib,
            threads: threads as u32,
        })
    }
}

fn read(path: &str) -> Result<String, ProcError> {
    std::fs::read_to_string(path).map_err(|source| ProcError::Read {
        path: path.to_owned(),
        source,
    })
}

/// utime + stime from a `stat` line. The command name (field 2) is in parentheses and may
/// itself hold spaces or parentheses, so fields are counted from the last `)`: after it come
/// field 3 (state) onwards, and utime, stime are fields 14 and 15.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The number after `name` in a `status` file: `VmRSS:   12345 kB` (KiB), `Threads:  4`.
fn status_field(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    line[name.len()..]
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

fn ticks_to_duration(ticks: u64) -> Duration {
    // SAFETY: sysconf only reads a system constant; it has no preconditions and touches no
    // memory of ours.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // USER_HZ is 100 on every Linux architecture; sysconf only fails on a broken libc.
    let per_second = if per_second > 0 {
        per_second as u64
    } else {
        100
    };
    Duration::from_micros(ticks * 1_000_000 / per_second)
}

/// Busy and total clock ticks of every CPU so far (the `cpuN` lines of `/proc/stat`; busy is
/// everything but idle and iowait), indexed by CPU number.
pub fn cpu_ticks_per_cpu() -> Option<Vec<(u64, u64)>> {
    Some(per_cpu_ticks(&std::fs::read_to_string("/proc/stat").ok()?))
}

fn per_cpu_ticks(stat: &str) -> Vec<(u64, u64)> {
    stat.lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .filter_map(|l| {
            let v: Vec<u64> = l
                .split_ascii_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal (guest is inside user)
            let total: u64 = v.iter().take(8).sum();
            let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
            Some((total - idle, total))
        })
        .collect()
}

/// Datagrams the kernel dropped because a UDP socket's receive buffer was full, host-wide
/// (network-namespace-wide): `Udp: … RcvbufErrors` in `/proc/net/snmp`.
pub fn udp_rcvbuf_errors() -> Option<u64> {
    snmp_udp_field(
        &std::fs::read_to_string("/proc/net/snmp").ok()?,
        "RcvbufErrors",
    )
}

/// Drops counted on the IPv4 UDP sockets bound to `ports` (the `drops` column of
/// `/proc/net/udp`), over each socket's life.
pub fn udp_socket_drops(ports: &[u16]) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    Some(socket_drops(&table, ports))
}

/// The `Udp:` header line names the columns of the `Udp:` value line after it.
fn snmp_udp_field(snmp: &str, field: &str) -> Option<u64> {
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let names = udp.next()?;
    let values = udp.next()?;
    let at = names.split_ascii_whitespace().position(|n| n == field)?;
    values.split_ascii_whitespace().nth(at)?.parse().ok()
}

/// Rows look like `  12: 0100007F:D431 00000000:0000 07 … drops`; the port is hex.
fn socket_drops(table: &str, ports: &[u16]) -> u64 {
    table
        .lines()
        .skip(1)
        .filter_map(|row| {
            let mut cols = row.split_ascii_whitespace();
            let local = cols.nth(1)?;
            let port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            let drops: u64 = row.split_ascii_whitespace().last()?.parse().ok()?;
            ports.contains(&port).then_some(drops)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_skip_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 75 0 0 20 0 3 0 100 1000 200";
        assert_eq!(cpu_ticks(stat), Some(325));
    }

    #[test]
    fn vm_rss_and_threads_are_read_from_status() {
        let status = "Name:\tcardea\nVmPeak:\t  9999 kB\nVmRSS:\t   5120 kB\nThreads:\t4\n";
        assert_eq!(status_field(status, "VmRSS:"), Some(5120));
        assert_eq!(status_field(status, "Threads:"), Some(4));
    }

    #[test]
    fn per_cpu_ticks_skip_the_total_line_and_count_idle_and_iowait_as_idle() {
        let stat = "cpu  10 0 10 100 5 0 0 0 0 0\n\
                    cpu0 4 0 6 50 2 1 1 0 0 0\n\
                    cpu1 6 0 4 50 3 0 0 0 0 0\nintr 1 2 3\n";
        assert_eq!(per_cpu_ticks(stat), vec![(12, 64), (10, 63)]);
    }

    #[test]
    fn rcvbuf_errors_are_found_by_column_name() {
        let snmp = "Ip: Forwarding\nIp: 1\n\
                    Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
                    Udp: 100 1 2 90 7 0\n\
                    UdpLite: InDatagrams\nUdpLite: 0\n";
        assert_eq!(snmp_udp_field(snmp, "RcvbufErrors"), Some(7));
    }

    #[test]
    fn socket_drops_are_summed_over_the_given_ports() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
   1: 0100007F:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 5\n\
   2: 0100007F:1F91 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 3\n\
   3: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 9\n";
        assert_eq!(socket_drops(table, &[0x1F90, 0x1F91]), 8);
    }

    #[test]
    fn own_process_can_be_sampled() {
        let s = Process::Myself.sample().expect("/proc/self is readable");
        assert!(s.rss_kib > 0);
        assert!(s.threads >= 1);
    }
}
