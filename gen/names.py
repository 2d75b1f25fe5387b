"""Identifier conventions: YAML names -> C++ names, and the names C++ reserves."""

import re

UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")
CAMEL = re.compile(r"^[A-Z][A-Za-z0-9]*$")
LOWER_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")

CXX_KEYWORDS = frozenset("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
char32_t class compl concept const consteval constexpr constinit const_cast continue co_await
co_return co_yield decltype default delete do double dynamic_cast else enum explicit export
extern false float for friend goto if inline int long mutable namespace new noexcept not not_eq
nullptr operator or or_eq private protected public register reinterpret_cast requires return
short signed sizeof static static_assert static_cast struct switch template this thread_local
throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t while
xor xor_eq
""".split())


def camel(upper_snake: str) -> str:
    """INTR_STATUS -> IntrStatus, LAST_STS_0 -> LastSts0."""
    return "".join(part[:1].upper() + part[1:].lower() for part in upper_snake.split("_"))


def snake(upper_snake: str) -> str:
    """CMPL_0 -> cmpl_0."""
    return upper_snake.lower()


def konst(upper_snake: str) -> str:
    """MAX_QUEUE_DEPTH -> kMaxQueueDepth."""
    return "k" + camel(upper_snake)


def snake_to_camel(lower_snake: str) -> str:
    """req_prod_idx -> ReqProdIdx."""
    return "".join(part[:1].upper() + part[1:] for part in lower_snake.split("_"))
