"""Synthetic children and families: names, ages, NHS numbers, and who is referred again."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import uuid
from dataclasses import dataclass, field

from triage.history import name_key

FIRST_NAMES = (
    "Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya Willow Florence Emily Ella Poppy Evie "
    "Elsie Charlotte Evelyn Sienna Sofia Daisy Phoebe Harper Ruby Millie Alice Matilda Maya Aisha Zara Amira Leah "
    "Noah Muhammad Oliver George Leo Arthur Oscar Harry Archie Jack Henry Charlie Freddie Theodore Theo Alfie "
    "Jacob Thomas Finley Lucas Isaac Tommy Albert Ethan Mason Joshua Max Reggie Arlo Teddy Hugo Adam Yusuf Ibrahim "
    "Kai Ryan Dylan Riley Logan Ezra Elijah Jayden Zain Omar Ali Tyler Callum Bailey Kacper Jan Amelia-Rose Kayden"
).split()
SURNAMES = (
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel Robinson Wright Thompson Evans Walker White "
    "Roberts Green Hall Thomas Clarke Jackson Wood Harris Edwards Turner Martin Cooper Hill Ward Hughes Moore "
    "Clark King Harrison Lewis Baker Lee Allen Morris Khan Scott Watson Davis Parker James Bennett Young Phillips "
    "Richardson Mitchell Bailey Carter Cook Singh Shaw Bell Collins Morgan Kelly Begum Miller Cox Marshall Simpson "
    "Anderson Ellis Adams Wilkinson Ali Mason Kaur Hussain Chapman Webb Rogers Gray Palmer Lloyd Russell Ahmed "
    "Kowalski Nowak Murphy Graham Stevens Hunt Price Owen Holmes Mills Knight Lane Dixon Fox Rose Grant Barker "
    "Atkinson Fletcher Payne Pearson Lawrence Reid Burton Hart Dawson Cole Butler Booth Spencer Chambers Murray "
    "Henderson Foster Gibson Wells Ellis-Brown Saunders Powell Fisher Hamilton Kennedy Jenkins Sutton Hayes"
).split()
AREAS = ("PE", "CB", "NR", "IP", "LN", "NG", "LE", "MK", "SG", "CO")
POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
STREETS = ("Station Road", "Church Lane", "Park Avenue", "Victoria Street", "Mill Close", "Orchard Way")
# Age in years at first referral (None: unborn), weighted like the Children in Need census.
AGE_WEIGHTS = (
    (None, 4), (0, 9), (1, 5), (2, 5), (3, 5), (4, 5), (5, 6), (6, 6), (7, 5), (8, 5), (9, 5), (10, 5), (11, 5),
    (12, 6), (13, 6), (14, 6), (15, 5), (16, 5), (17, 4),
)  # fmt: skip
SIBLINGS = ((1, 70), (2, 18), (3, 8), (4, 3), (5, 1))
SIBLING_COUNTS, SIBLING_TOTALS = [n for n, _ in SIBLINGS], list(itertools.accumulate(w for _, w in SIBLINGS))
AGES, AGE_TOTALS = [a for a, _ in AGE_WEIGHTS], list(itertools.accumulate(w for _, w in AGE_WEIGHTS))
# How many families may wait to be referred again: bounds memory on very large runs.
POOL_LIMIT = 250_000


def nhs_check_digit(nine: str) -> int | None:
    """The modulus 11 check digit of nine digits, or None when no valid number has them."""
    check = 11 - sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True)) % 11
    check = 0 if check == 11 else check
    return None if check == 10 else check


@dataclass
class Earlier:
    """One earlier referral of a child, as intake's history matching finds it."""

    child_id: uuid.UUID
    referral_id: uuid.UUID
    received_at: dt.datetime
    neglect: bool


@dataclass
class Identity:
    """One child, referred one or more times: unborn ones have no birth date and are never matched."""

    first_name: str
    last_name: str
    gender: str
    date_of_birth: dt.date | None
    expected_date_of_birth: dt.date | None
    nhs_number: str | None
    earlier: list[Earlier] = field(default_factory=list)


@dataclass
class Family:
    """Children who are referred together, at one address."""

    surname: str
    line1: str
    town: str
    postcode: str
    children: list[Identity]
    last_referred: dt.datetime


class People:
    """Makes new families and picks earlier ones to refer again, never two children intake would take as one."""

    def __init__(
        self, rng: random.Random, *, taken_keys: set[int], taken_nhs: set[str], part: int = 0, parts: int = 1
    ) -> None:
        self.rng = rng
        # Hashes of (name key, date of birth): a new child never shares both with any child on record.
        self.taken_keys = taken_keys
        self.taken_nhs = taken_nhs
        # Simulations running side by side use different surnames and NHS numbers, so none of their children
        # can be taken for another's.
        self.surnames = SURNAMES[part::parts]
        self._part, self._parts = part, parts
        self._nhs_slots = 1_000_000 // parts
        self._nhs_slot = rng.randrange(self._nhs_slots)
        self._nhs_left = self._nhs_slots
        self.pool: list[Family] = []

    def nhs_number(self) -> str | None:
        """A valid NHS number in the 999 test range that no child on record has, while any are left."""
        while self._nhs_left > 0:
            self._nhs_left -= 1
            self._nhs_slot = (self._nhs_slot + 1) % self._nhs_slots
            nine = f"999{self._nhs_slot * self._parts + self._part:06d}"
            check = nhs_check_digit(nine)
            if check is not None and f"{nine}{check}" not in self.taken_nhs:
                number = f"{nine}{check}"
                self.taken_nhs.add(number)
                return number
        return None

    def _claim(self, first: str, surname: str, born: dt.date) -> bool:
        key = hash((name_key(first, surname), born.toordinal()))
        if key in self.taken_keys:
            return False
        self.taken_keys.add(key)
        return True

    def child(self, surname: str, *, today: dt.date, age: int | None, with_nhs: float = 0.45) -> Identity:
        """A new child of AGE on TODAY (None: unborn, due within the next six months)."""
        gender = self.rng.choice(("female", "male"))
        if age is None:
            due = today + dt.timedelta(days=self.rng.randint(20, 180))
            return Identity("Unborn", surname, "unknown", None, due, None)
        while True:
            first = self.rng.choice(FIRST_NAMES)
            born = today - dt.timedelta(days=age * 365 + self.rng.randint(1, 360))
            if self._claim(first, surname, born):
                break
        nhs = self.nhs_number() if self.rng.random() < with_nhs else None
        return Identity(first, surname, gender, born, None, nhs)

    def new_family(self, *, today: dt.date, at: dt.datetime) -> Family:
        """A family seen for the first time, with one to five children."""
        rng = self.rng
        surname = rng.choice(self.surnames)
        count = rng.choices(SIBLING_COUNTS, cum_weights=SIBLING_TOTALS)[0]
        first_age = rng.choices(AGES, cum_weights=AGE_TOTALS)[0]
        ages: list[int | None] = [first_age]
        for _ in range(count - 1):
            base = 8 if first_age is None else first_age
            ages.append(max(0, min(17, base + rng.randint(-6, 6))))
        area = rng.choice(AREAS)
        unit = rng.choice(POSTCODE_LETTERS) + rng.choice(POSTCODE_LETTERS)
        postcode = f"{area}{rng.randint(1, 30)} {rng.randint(1, 9)}{unit}"
        family = Family(
            surname=surname,
            line1=f"{rng.randint(1, 240)} {rng.choice(STREETS)}",
            town="Peterborough",
            postcode=postcode,
            children=[self.child(surname, today=today, age=age) for age in ages],
            last_referred=at,
        )
        self._remember(family)
        return family

    def again(self, *, today: dt.date, at: dt.datetime, within: dt.timedelta) -> Family | None:
        """A family referred before AT and within WITHIN of it, ready to be referred again (None if none is)."""
        for _ in range(4):
            if not self.pool:
                return None
            index = self.rng.randrange(len(self.pool))
            family = self.pool[index]
            if family.last_referred >= at or at - family.last_referred > within:
                # Too old now (or a tie): it leaves the pool.
                self.pool[index] = self.pool[-1]
                self.pool.pop()
                continue
            self._grow_up(family, today=today)
            if not family.children:
                continue
            family.last_referred = at
            return family
        return None

    def _grow_up(self, family: Family, *, today: dt.date) -> None:
        """Unborn children due by now are born (a new record for intake); adults leave the family."""
        kept: list[Identity] = []
        for child in family.children:
            if child.date_of_birth is None and child.expected_date_of_birth is not None:
                if child.expected_date_of_birth <= today:
                    age = max(0, (today - child.expected_date_of_birth).days // 365)
                    child = self.child(family.surname, today=today, age=age, with_nhs=0.8)
            elif child.date_of_birth is not None and (today - child.date_of_birth).days >= 18 * 365:
                continue
            kept.append(child)
        family.children = kept

    def _remember(self, family: Family) -> None:
        if len(self.pool) >= POOL_LIMIT:
            self.pool[self.rng.randrange(len(self.pool))] = family
        else:
            self.pool.append(family)
