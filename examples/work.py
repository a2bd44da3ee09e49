"""A function in a file, for `qlambda run examples/work.py:main --arg n=8`."""


def main(n: int = 8) -> dict:
    print(f"summing the first {n} squares")
    return {"sum": sum(i * i for i in range(n))}


def slow(seconds: float = 60) -> None:
    import time

    time.sleep(seconds)
