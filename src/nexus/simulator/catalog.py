"""What every simulated tenant has in common: its id scheme and its catalog.

Ids are derived from the tenant-local day and the job's place in it
(`base + day_number * SLOTS_PER_DAY + slot`), one range per kind of record,
so they are deterministic and a mix-up of kinds shows at a glance. They are
above 2**31 on purpose: ServiceTitan ids are int64.
"""

from __future__ import annotations

from datetime import date

from nexus.simulator.entities import BusinessUnit

JOB_BASE = 1_000_000_000
PHANTOM_BASE = JOB_BASE + 900_000_000
INVOICE_BASE = 2_000_000_000
ADJUSTMENT_BASE = 2_500_000_000
PHANTOM_INVOICE_BASE = INVOICE_BASE + 900_000_000
CUSTOMER_BASE = 3_000_000_000
LOCATION_OFFSET = 500_000_000
ESTIMATE_BASE = 4_000_000_000
APPOINTMENT_BASE = 5_000_000_000
ITEM_BASE = 6_000_000_000
SLOTS_PER_DAY = 10_000
EPOCH_DAY = date(2000, 1, 1)

TAX_RATE = 0.0825

BUSINESS_UNITS = (
    BusinessUnit(101, "Plumbing Service"),
    BusinessUnit(102, "HVAC Service"),
    BusinessUnit(103, "Drains"),
)
# id, name, class, noCharge, business unit indexes, duration (min), active
JOB_TYPES = (
    (3001, "Service Call", "Service", False, (0, 1), 90, True),
    (3002, "Repair", "Service", False, (0, 1), 120, True),
    (3003, "Maintenance", "Maintenance", False, (1,), 60, True),
    (3004, "Install", "Install", False, (0, 1), 240, True),
    (3005, "Drain Cleaning", "Service", False, (2,), 60, True),
    (3006, "Warranty Service", "Warranty", True, (0, 1), 90, True),
    (3007, "No Charge Callback", "Service", True, (0, 1, 2), 60, True),
    (3008, "Legacy Install", "Install", False, (1,), 240, False),
)
UNITS_BY_ID = {unit.id: unit for unit in BUSINESS_UNITS}
CHARGEABLE_TYPES = (0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 4)
NO_CHARGE_TYPES = (5, 6)
SKUS = (
    (9101, "Diagnostic fee"),
    (9102, "Labor"),
    (9103, "Parts"),
    (9104, "Water heater"),
    (9105, "Drain clearing"),
    (9106, "Tune-up"),
)
FIRST = (
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Maria",
    "Wei",
    "Aisha",
    "Minh",
    "Priya",
)
LAST = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Nguyen",
    "Patel",
)
COMPANY = ("Properties LLC", "Dental Group", "Apartments", "Holdings", "Cafe", "Auto Repair")
STREETS = (
    "Oak St",
    "Elm St",
    "Maple Ave",
    "Cedar Ln",
    "Pecan Dr",
    "Lamar Blvd",
    "Congress Ave",
    "Burnet Rd",
    "Riverside Dr",
    "Bluebonnet Ln",
    "Mesquite Trl",
    "Live Oak Dr",
)
CITIES = (
    ("Austin", "787"),
    ("Round Rock", "786"),
    ("Pflugerville", "786"),
    ("Cedar Park", "786"),
    ("Georgetown", "786"),
    ("San Marcos", "786"),
)
ESTIMATE_NAMES = ("Water heater replacement", "AC replacement", "Repipe", "Sewer line repair")
TECHNICIANS = tuple(range(40_001, 40_013))
#: ids of technicians a bigger crew hires beyond the first twelve, clear of the former ones
HIRED_BASE = 40_100
USERS = tuple(range(30_001, 30_006))
CAMPAIGNS = (20_001, 20_002, 20_003, 20_004)

# Ids of the records the business model adds, one range per kind as above.
SECOND_APPOINTMENT = 500_000_000  # a job's second appointment: base + this + slot
ASSIGNMENT_BASE = 9_000_000_000  # + 2 * (appointment id - APPOINTMENT_BASE) + n
PAYMENT_BASE = 11_000_000_000  # + (invoice id - INVOICE_BASE)
MEMBERSHIP_BASE = 12_000_000_000  # + (customer id - CUSTOMER_BASE)
GENERATED_BASE = 20_000_000_000  # + feed number * GENERATED_RANGE + record number
GENERATED_RANGE = 1_000_000_000

#: technicians: the first twelve work today, the last two have left
TECHNICIAN_IDS = (*TECHNICIANS, 40_013, 40_014)
FORMER_TECHNICIANS = (40_013, 40_014)


def crew(size: int) -> tuple[int, ...]:
    """The ids of `size` working technicians: the first twelve, then hired ones."""
    hired = tuple(range(HIRED_BASE + 1, HIRED_BASE + 1 + max(0, size - len(TECHNICIANS))))
    return (*TECHNICIANS, *hired)[:size]


CAMPAIGN_NAMES = {20_001: "Google Ads", 20_002: "Yard signs", 20_003: "Referral", 20_004: "Radio"}
MEMBERSHIP_TYPES = {7001: "Comfort Club", 7002: "Plumbing Protection Plan", 7003: "Drain Care"}
PAYMENT_TYPES = {8001: "Cash", 8002: "Check", 8003: "Credit Card", 8004: "ACH", 8005: "Financing"}
