"""Spawn tests/progs/probe through Python's os.posix_spawn/os.posix_spawnp with
file actions and every attribute Python exposes, and print what each child
saw (normalized so that two runs compare equal), or the errno of a failure.

test_preload.c runs this once plainly (glibc) and once with
LD_PRELOAD=libnofork-preload.so, and requires identical output. The last line,
"spawns N", lets it check that the preload's trace saw every spawn.

Usage: test_preload_python.py PROBE SCRATCH_DIR
"""
import os
import re
import signal
import sys

probe, scratch = sys.argv[1], sys.argv[2]
spawns = 0


def normalize(report, pid):
    out = []
    for line in report.splitlines():
        key = line.split(' ', 1)[0]
        if key in ('pid', 'ppid'):
            continue
        if key == 'sigign':
            # glibc leaves its internal signals 32/33 ignored in children; that
            # gap (a core hook) is tested on its own in test_compat_diff.
            line = 'sigign %016x' % (int(line.split()[1], 16) & ~(3 << 31))
        line = re.sub(r'pipe:\[\d+\]', 'pipe:[]', line)
        line = ' '.join('SELF' if w == str(pid) else w for w in line.split(' '))
        out.append(line)
    return '\n'.join(out)


def run(name, spawnp=False, path=None, file_actions=(), **attrs):
    global spawns
    r, w = os.pipe()
    actions = [(os.POSIX_SPAWN_DUP2, w, 1)] + list(file_actions)
    fn = os.posix_spawnp if spawnp else os.posix_spawn
    print('==', name)
    spawns += 1
    try:
        pid = fn(path or probe, ['probe', name], {'NF_PY': '1'},
                 file_actions=actions, **attrs)
    except OSError as e:
        os.close(w)
        os.close(r)
        print('error', e.errno)
        return
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    print('status', status)
    print(normalize(b''.join(chunks).decode(), pid))


data = os.path.join(scratch, 'data')
with open(data, 'w') as f:
    f.write('data\n')
signal.signal(signal.SIGUSR2, signal.SIG_IGN)
signal.signal(signal.SIGHUP, lambda *a: None)
os.environ['PATH'] = os.path.dirname(probe)

run('plain')
run('open', file_actions=[(os.POSIX_SPAWN_OPEN, 5, data, os.O_RDONLY, 0),
                          (os.POSIX_SPAWN_OPEN, 6, os.path.join(scratch, 'out'),
                           os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)])
run('open_close_dup2', file_actions=[(os.POSIX_SPAWN_OPEN, 7, data, os.O_RDONLY, 0),
                                     (os.POSIX_SPAWN_DUP2, 7, 8),
                                     (os.POSIX_SPAWN_CLOSE, 7),
                                     (os.POSIX_SPAWN_CLOSE, 40)])
run('open_missing', file_actions=[(os.POSIX_SPAWN_OPEN, 5, data + '.missing', os.O_RDONLY, 0)])
run('setsid', setsid=True)
run('setpgroup_own', setpgroup=0)
run('setpgroup_bad', setpgroup=1)
run('setsigmask', setsigmask=[signal.SIGUSR1, signal.SIGTERM, signal.SIGRTMIN + 1])
run('setsigdef', setsigdef=[signal.SIGUSR2])
run('resetids', resetids=True)
run('scheduler_other', scheduler=(os.SCHED_OTHER, os.sched_param(0)))
run('scheduler_fifo', scheduler=(os.SCHED_FIFO, os.sched_param(5)))
run('scheduler_bad', scheduler=(os.SCHED_RR, os.sched_param(0)))
run('setscheduler_param_only', scheduler=(None, os.sched_param(0)))
run('everything', setsid=True, setsigmask=[signal.SIGQUIT], setsigdef=[signal.SIGUSR2, signal.SIGHUP],
    scheduler=(os.SCHED_OTHER, os.sched_param(0)), resetids=True,
    file_actions=[(os.POSIX_SPAWN_OPEN, 0, data, os.O_RDONLY, 0)])
run('exec_missing', path=os.path.join(scratch, 'missing'))
run('exec_not_executable', path=data)
run('spawnp_found', spawnp=True, path='probe')
run('spawnp_missing', spawnp=True, path='no-such-program-here')
print('spawns', spawns)
