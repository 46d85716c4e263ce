"""test_procfs.py -- the benchmark's /proc parsers and percentile, on fixed text.

    cd bench && /usr/bin/python3 -m unittest test_procfs
"""

import os
import unittest

import procfs

STAT = ("1234 (sb-play (x)) S 1200 1234 1200 0 -1 4194304 100 0 0 0 "
        "37 15 0 0 20 0 30 0 5000 123456789 1500 18446744073709551615")

SMAPS = """\
55d0c1a00000-55d0c1a02000 r--p 00000000 08:01 123                        /usr/lib/x86_64-linux-gnu/libc.so.6
Size:                  8 kB
Rss:                   8 kB
Pss:                   2 kB
Shared_Clean:          8 kB
Private_Clean:         0 kB
Private_Dirty:         0 kB
VmFlags: rd mr mw me sd
55d0c1a02000-55d0c1a04000 rw-p 00002000 08:01 123                        /usr/lib/x86_64-linux-gnu/libc.so.6
Size:                  8 kB
Rss:                   4 kB
Pss:                   4 kB
Private_Dirty:         4 kB
7f0000000000-7f0000800000 rw-p 00000000 00:00 0 
Size:               8192 kB
Rss:                  12 kB
Pss:                  12 kB
Private_Dirty:        12 kB
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]
Rss:                  16 kB
"""


class ProcfsTest(unittest.TestCase):
    def test_percentile_nearest_rank(self):
        values = list(range(1, 101))
        self.assertEqual(procfs.percentile(values, 50), 50)
        self.assertEqual(procfs.percentile(values, 99), 99)
        self.assertEqual(procfs.percentile(values, 100), 100)
        self.assertEqual(procfs.percentile([7], 99), 7)
        self.assertEqual(procfs.percentile([3, 1, 2], 50), 2)
        self.assertIsNone(procfs.percentile([], 50))

    def test_stat_with_parentheses_in_name(self):
        st = procfs.parse_stat(STAT)
        self.assertEqual(st["comm"], "sb-play (x)")
        self.assertEqual(st["ppid"], 1200)
        self.assertEqual(st["cpu_ticks"], 37 + 15)
        self.assertEqual(st["threads"], 30)

    def test_kb_lines(self):
        kb = procfs.parse_kb_lines("Rss:   100 kB\nPss: 40 kB\nVmFlags: rd wr\nbogus\n")
        self.assertEqual(kb, {"Rss": 100, "Pss": 40})

    def test_smaps_grouped_by_library_and_anon(self):
        maps = procfs.parse_smaps(SMAPS)
        self.assertEqual(maps["libc.so.6"]["Rss"], 12)
        self.assertEqual(maps["libc.so.6"]["Pss"], 6)
        self.assertEqual(maps["libc.so.6"]["Private_Dirty"], 4)
        self.assertEqual(maps["libc.so.6"]["maps"], 2)
        self.assertEqual(maps["[anon]"]["Size"], 8192)
        self.assertEqual(maps["[anon]"]["Rss"], 12)
        self.assertEqual(maps["[stack]"]["Rss"], 16)

    def test_cpu_line(self):
        busy, total = procfs.parse_cpu_line("cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 1 2 3 4\n")
        self.assertEqual(total, 100 + 5 + 50 + 1000 + 20 + 1 + 2 + 3)
        self.assertEqual(busy, total - 1000 - 20)

    def test_readers_on_this_process(self):
        mem = procfs.memory(os.getpid())
        self.assertGreater(mem["rss"], 0)
        self.assertGreaterEqual(mem["rss"], mem["uss"])
        self.assertGreaterEqual(mem["threads"], 1)
        self.assertIsNone(procfs.memory(0x7FFFFFF0))  # no such process
        self.assertGreater(procfs.cpu_ms([os.getpid()]) + 1, 0)


if __name__ == "__main__":
    unittest.main()
