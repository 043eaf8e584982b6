"""Start `dagster dev` the way a test fixture would and stop it with SIGTERM; report how long it took.
With SIGINT ignored by the parent (a background job of a non-interactive shell), dagster dev's
setup_interrupt_handlers() copies SIG_IGN onto SIGTERM too, so it must be reset in the child."""
import os, signal, subprocess, sys, time
reset = sys.argv[1] == "reset"
if sys.argv[2] == "ignore_in_parent":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
env = {**os.environ, "DAGSTER_HOME": os.path.join(__import__("tempfile").gettempdir(), "proto10_home_stop")}
os.makedirs(env["DAGSTER_HOME"], exist_ok=True)
p = subprocess.Popen([".venv/bin/dagster", "dev", "-f", "toy_dev.py", "-h", "127.0.0.1", "-p", "3998"],
                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                     preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) if reset else None)
time.sleep(30)
t = time.time(); p.send_signal(signal.SIGTERM)
try:
    p.wait(timeout=40); print(f"reset={reset} parent={sys.argv[2]}: exited {time.time() - t:.1f}s after SIGTERM, rc={p.returncode}")
except subprocess.TimeoutExpired:
    print(f"reset={reset} parent={sys.argv[2]}: still running 40s after SIGTERM; killing the group")
    os.killpg(p.pid, signal.SIGKILL)
