"""test_quickstart.py -- the README's first command as a newcomer meets it: scripts/demo.py (what
scripts/quickstart runs once it has installed and built) starts a broker, two emulated speakers
and the bridge, announces once, and then obeys the mosquitto_pub line it prints; Ctrl-C stops
everything and leaves nothing running."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, "..", "..", "scripts", "demo.py")


class Output:
    """The demo's standard output, read line by line on a thread."""

    def __init__(self, stream):
        self.lines = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in stream:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait(self, pattern, timeout, after=0):
        """The index of the first line from `after` on that matches, or None after timeout."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(after, len(self.lines)):
                    if rx.search(self.lines[i]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0 or not self.thread.is_alive():
                    return None
                self.cond.wait(min(left, 0.5))

    def text(self):
        with self.cond:
            return "\n".join(self.lines)


class QuickstartTest(harness.E2ETestCase):
    def test_demo_announces_obeys_the_printed_command_and_stops_on_ctrl_c(self):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("QUICKSTART_PORT", None)
        if harness.port_open(1883):  # a broker of the machine's: the demo would take 18830
            env["QUICKSTART_PORT"] = str(harness.free_port())
        port = int(env.get("QUICKSTART_PORT", 1883))
        proc = subprocess.Popen([sys.executable, DEMO], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env,
                                start_new_session=True)
        self.addCleanup(self.stop_demo, proc)
        out = Output(proc.stdout)
        self.addCleanup(lambda: self._verbose() and self._dump("demo output", out.text()))

        running = out.wait(r"^>>> Running\.", 120)
        self.assertIsNotNone(running, "the demo never got to 'Running'")
        self.assertIsNotNone(out.wait(r'^>>> result: .*"id": "quickstart".*"status": "done"', 0))
        self.assertIsNotNone(out.wait(r"^>>> the Kitchen speaker fetched http://\S+ "
                                      r"\(audio/\S+, [0-9.]+ s of speech\)", 0))
        # The demo prints the command with its port.
        printed = out.wait(r"mosquitto_pub -p %d -t sonos/kitchen/tts" % port, 0)
        self.assertIsNotNone(printed)
        # On MQTT's own port, the README's command as it is written, without -p.
        port_args = [] if port == 1883 else ["-p", str(port)]
        subprocess.run(["mosquitto_pub"] + port_args + ["-t", "sonos/kitchen/tts",
                        "-m", "dinner is ready"], check=True, timeout=10)
        # The speaker is told to Play, fetches the new clip (valid audio) and plays it.
        self.assertIsNotNone(out.wait(r"^speaker \| .*Kitchen +AVTransport\.Play", 60,
                                      after=running), "Kitchen was not told to Play again")
        self.assertIsNotNone(out.wait(r"^speaker \| .*Kitchen +fetched http://\S+ \S+ .*valid",
                                      30, after=running),
                             "Kitchen did not fetch the second announcement")

        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(30), 0)
        # Nothing of the demo is left: no bridge process on its configuration, no broker.
        self.assertFalse(harness.port_open(port))
        config = out.wait(r"^>>> Workers and speakers: .* status --config (\S+)", 0)
        self.assertIsNotNone(config)
        config = re.search(r"--config (\S+)", out.lines[config]).group(1)
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        self.assertEqual([line for line in ps.splitlines() if config in line], [])

    @staticmethod
    def stop_demo(proc):
        """Ctrl-C, as a user stops it: the demo then stops the bridge (its own session) and
        the broker. SIGKILL only if that does not end it, which would leave them running."""
        if proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


if __name__ == "__main__":
    unittest.main()
