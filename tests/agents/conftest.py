"""Shared fixtures for the agents tests: a small phone-contract domain and both sides' prefs."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import (
    Deadline,
    DiscreteEvaluator,
    Domain,
    FieldsEvaluator,
    FieldsIssue,
    LinearAdditiveUtility,
    NumericEvaluator,
    NumericIssue,
    OrdinalIssue,
    Preferences,
)

REPO = Path(__file__).resolve().parents[2]
ANAC = REPO.parent / "shared" / "scenarios" / "anac"
FIELDS = ("contact.email", "contact.phone", "address.city", "profile.age")


def phone_domain() -> Domain:
    return Domain(
        "phone",
        (
            NumericIssue("price", 1000, 3000, step=250, unit="cents"),
            NumericIssue("months", 12, 24, step=12),
            OrdinalIssue("data", ("1GB", "5GB", "20GB")),
            FieldsIssue("shared", FIELDS, required=frozenset({"contact.email"})),
        ),
    )


def customer_prefs(domain: Domain, reservation: float = 0.0) -> Preferences:
    u = LinearAdditiveUtility(
        {"price": 0.5, "months": 0.1, "data": 0.2, "shared": 0.2},
        {
            "price": NumericEvaluator(1000, 3000, increasing=False),
            "months": NumericEvaluator(12, 24, increasing=False),
            "data": DiscreteEvaluator({"1GB": 1, "5GB": 3, "20GB": 5}),
            "shared": FieldsEvaluator(dict.fromkeys(FIELDS, 1.0), sharing_is_cost=True),
        },
    )
    return Preferences(u, reservation, name="customer")


def business_prefs(domain: Domain, reservation: float = 0.0) -> Preferences:
    u = LinearAdditiveUtility(
        {"price": 0.5, "months": 0.3, "data": 0.1, "shared": 0.1},
        {
            "price": NumericEvaluator(1000, 3000),
            "months": NumericEvaluator(12, 24),
            "data": DiscreteEvaluator({"1GB": 5, "5GB": 3, "20GB": 1}),
            "shared": FieldsEvaluator(dict.fromkeys(FIELDS, 1.0), sharing_is_cost=False),
        },
    )
    return Preferences(u, reservation, name="business")


@pytest.fixture
def domain() -> Domain:
    return phone_domain()


@pytest.fixture
def customer(domain: Domain) -> Preferences:
    return customer_prefs(domain)


@pytest.fixture
def business(domain: Domain) -> Preferences:
    return business_prefs(domain)


@pytest.fixture
def deadline() -> Deadline:
    return Deadline(rounds=30)
