"""Two runs of one program whose time moves from one function to another,
for `spyglass report --diff` (2.7 and 3.x).

    python diff_target.py PARSE_ROUNDS RENDER_ROUNDS [--profile OUT]

main() calls parse() and render() ten times; each spins for its rounds (a
thousand steps of the same loop a round) in its own body, so their own CPU
times follow the rounds: 40 10 gives parse four fifths, 10 40 gives it one.
With --profile, main runs under cProfile timed by CPU time (process_time,
2.7's time.clock), so a loaded machine does not move the shares, and the
stats go to OUT.
"""
import sys
import time


def parse(rounds):
    total = 0
    for i in range(rounds * 1000):  # LINE:parse
        total += i % 7
    return total


def render(rounds):
    total = 0
    for i in range(rounds * 1000):  # LINE:render
        total += i % 7
    return total


def main(parse_rounds, render_rounds):
    for _ in range(10):
        parse(parse_rounds)
        render(render_rounds)


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--profile" in args:
        import cProfile
        out = args.pop(args.index("--profile") + 1)
        args.remove("--profile")
        profiler = cProfile.Profile(getattr(time, "process_time", None) or time.clock)
        profiler.enable()
        main(int(args[0]), int(args[1]))
        profiler.disable()
        profiler.dump_stats(out)
    else:
        main(int(args[0]), int(args[1]))
