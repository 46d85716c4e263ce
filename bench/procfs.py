"""procfs.py -- what the benchmark reads from /proc: CPU time, memory (RSS, PSS, per mapping),
threads, and small pure helpers (percentiles) so the figures are computed one way everywhere.

Parsers take text and return numbers (no I/O), readers wrap them; a process that is gone
gives None rather than an exception."""

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a list of numbers; None for an empty list."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100), at least 1
    return ordered[min(len(ordered), int(rank)) - 1]


def parse_stat(text):
    """/proc/<pid>/stat -> {"comm", "ppid", "cpu_ticks" (utime + stime), "threads"}."""
    head, _, rest = text.rpartition(")")
    comm = head.partition("(")[2]
    fields = rest.split()
    # fields[0] is state (field 3); utime/stime are fields 14/15, num_threads is 20
    return {"comm": comm, "ppid": int(fields[1]), "cpu_ticks": int(fields[11]) + int(fields[12]),
            "threads": int(fields[17])}


def parse_kb_lines(text):
    """'Key:   123 kB' lines (smaps_rollup, status) -> {key: kB}; other lines are skipped."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        parts = value.split()
        if sep and len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            out[key.strip()] = int(parts[0])
    return out


def mapping_name(header):
    """The name a /proc/<pid>/smaps mapping header line is grouped under: the file's base
    name, [heap], [stack], or [anon] for anonymous memory (where thread stacks live)."""
    parts = header.split(None, 5)
    if len(parts) < 6 or not parts[5].strip():
        return "[anon]"
    name = parts[5].strip()
    if name.startswith("["):
        return name
    return os.path.basename(name.replace(" (deleted)", ""))


def parse_smaps(text):
    """/proc/<pid>/smaps -> {name: {"Rss", "Pss", "Private_Dirty", "Private_Clean",
    "Shared_Clean", "Size", "maps"}} in kB, grouped by mapping_name()."""
    out = {}
    current = None
    keys = ("Size", "Rss", "Pss", "Private_Dirty", "Private_Clean", "Shared_Clean")
    for line in text.splitlines():
        first = line.split(None, 1)[0] if line.strip() else ""
        if "-" in first and ":" not in first:
            current = out.setdefault(mapping_name(line), dict.fromkeys(keys, 0))
            current.setdefault("maps", 0)
            current["maps"] += 1
            continue
        if current is None:
            continue
        key, sep, value = line.partition(":")
        if sep and key in keys:
            parts = value.split()
            if parts and parts[0].isdigit():
                current[key] += int(parts[0])
    return out


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def stat(pid):
    text = _read("/proc/%d/stat" % pid)
    return parse_stat(text) if text else None


def memory(pid):
    """{"rss", "pss", "uss" (private clean + dirty), "private_dirty", "anon", "threads"} in kB
    from smaps_rollup, or None."""
    text = _read("/proc/%d/smaps_rollup" % pid)
    st = stat(pid)
    if not text or not st:
        return None
    kb = parse_kb_lines(text)
    return {"rss": kb.get("Rss", 0), "pss": kb.get("Pss", 0),
            "uss": kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0),
            "private_dirty": kb.get("Private_Dirty", 0), "anon": kb.get("Anonymous", 0),
            "threads": st["threads"]}


def smaps(pid):
    text = _read("/proc/%d/smaps" % pid)
    return parse_smaps(text) if text else None


def comm(pid):
    text = _read("/proc/%d/comm" % pid)
    return text.strip() if text else None


def children(ppid):
    """pids whose parent is ppid."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = stat(int(entry))
            if st and st["ppid"] == ppid:
                found.append(int(entry))
    return sorted(found)


def cpu_ms(pids):
    """utime + stime of the given processes together, in ms (None entries skipped)."""
    total = 0
    for pid in pids:
        st = stat(pid)
        if st:
            total += st["cpu_ticks"]
    return total * 1000.0 / CLK_TCK


def parse_cpu_line(text):
    """The first line of /proc/stat -> (busy ticks, total ticks) over all CPUs."""
    fields = [int(x) for x in text.splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user
    return total - idle, total


def machine_busy():
    """(busy, total) CPU ticks of the whole machine so far."""
    text = _read("/proc/stat")
    return parse_cpu_line(text) if text else (0, 0)
