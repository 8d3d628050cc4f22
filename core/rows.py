"""A read serializer's output without DRF's per-field machinery, compiled from the serializer itself.

The serializer stays the one declaration of what a body holds: the schema, the
browsable API and this module all read its fields. `RowPlan` turns it, once,
into a list of steps (where each value is, how it is written), so a page of 100
quotes costs a dict per row instead of DRF's attribute walk, `SkipField` checks
and field dispatch for every cell, and, from `values()`, no model instances.

Every value is still written by its field's own `to_representation`, so a body
is the same as the serializer's, digit for digit. What a plan cannot read
directly (a method field, a property, a source of `*`) it asks the field for,
as the serializer would: new fields work with no change here, only slower.
"""

import operator
import threading
from collections.abc import Callable, Iterable

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from django.db.models import QuerySet
from django.db.models.manager import BaseManager
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject, RelatedField

_SKIP = object()

Step = tuple[str, Callable[[object], object]]


class RowPlan:
    """The output of `serializer_class` for each row, from model instances (`many`, `one`) or, when
    every field is a column, from `values()` rows (`values_rows` over `values_of(queryset)`)."""

    def __init__(self, serializer_class: type[serializers.Serializer], *, fields: Iterable | None = None):
        self.serializer_class = serializer_class
        # A nested serializer's own bound fields, else those of a new one.
        fields = serializer_class().fields.values() if fields is None else fields
        self._fields = [field for field in fields if not field.write_only]
        self._from_instances: list[Step] | None = None
        self._from_values: list[Step] | None = None
        self.paths: tuple[str, ...] = ()

    def one(self, instance) -> dict:
        steps, _body.memo = self._instance_steps(), {}
        return _render(instance, steps)

    def many(self, instances: Iterable) -> list[dict]:
        steps, _body.memo = self._instance_steps(), {}
        return [_render(instance, steps) for instance in instances]

    def values_of(self, queryset: QuerySet, *also: str) -> QuerySet:
        """The queryset as `values()` of the columns the fields read, and of `also` (a paginator's keys)."""
        self._value_steps()
        return queryset.values(*dict.fromkeys((*self.paths, *also)))

    def values_rows(self, rows: Iterable[dict]) -> list[dict]:
        steps, _body.memo = self._value_steps(), {}
        return [_render(row, steps) for row in rows]

    def _instance_steps(self) -> list[Step]:
        if self._from_instances is None:
            model = getattr(getattr(self.serializer_class, "Meta", None), "model", None)
            self._from_instances = [(field.field_name, _instance_step(field, model)) for field in self._fields]
        return self._from_instances

    def _value_steps(self) -> list[Step]:
        if self._from_values is None:
            model = self.serializer_class.Meta.model
            steps, paths = [], []
            for field in self._fields:
                path = _column_path(field, model)
                paths.append(path)
                steps.append((field.field_name, _converted(operator.itemgetter(path), _converter(field))))
            self._from_values, self.paths = steps, tuple(paths)
        return self._from_values


def _render(row, steps: list[Step]) -> dict:
    out = {}
    for name, step in steps:
        value = step(row)
        if value is not _SKIP:
            out[name] = value
    return out


def _converted(get: Callable, convert: Callable) -> Callable:
    def step(row):
        value = get(row)
        return None if value is None else convert(value)

    return step


def _converter(field: serializers.Field) -> Callable:
    if isinstance(field, RelatedField) and field.use_pk_only_optimization():
        # A column of a foreign key holds the primary key, which is what the field is given in DRF too.
        return lambda pk: field.to_representation(PKOnlyObject(pk=pk))
    if isinstance(field, serializers.DateTimeField):
        return _memoized(field.to_representation)
    return field.to_representation


# The body being built, per thread: what its moments were written as.
_body = threading.local()


def _memoized(convert: Callable) -> Callable:
    """`convert` once per distinct value of one body. A page repeats its moments (a hundred quotes of one
    `as_of`, one batch's `updated_at`), and DateTimeField looks up the current time zone for each, which
    cannot change while one body is built."""

    def convert_once(value):
        key = (convert, value)
        memo = _body.memo
        try:
            return memo[key]
        except KeyError:
            memo[key] = written = convert(value)
            return written

    return convert_once


def _column_path(field: serializers.Field, model: type[models.Model]) -> str:
    """The `values()` path of the column the field reads, or ImproperlyConfigured if it reads none."""
    if isinstance(field, serializers.BaseSerializer | serializers.SerializerMethodField) or field.source == "*":
        raise ImproperlyConfigured(f"{field.field_name} is not a column: serve this serializer from instances")
    if isinstance(field, RelatedField) and not field.use_pk_only_optimization():
        raise ImproperlyConfigured(f"{field.field_name} reads a related object: serve it from instances")
    target, last = model, len(field.source_attrs) - 1
    for index, attr in enumerate(field.source_attrs):
        try:
            model_field = target._meta.get_field(attr)
        except (FieldDoesNotExist, AttributeError):
            model_field = None
        # Only forward, single-valued steps: a reverse or many-to-many one would multiply the rows,
        # and a relation read by a plain field would be written from its key, not its object.
        single = model_field is not None and model_field.concrete and not model_field.many_to_many
        if not single or (model_field.is_relation and index == last and not isinstance(field, RelatedField)):
            raise ImproperlyConfigured(f"{field.field_name} reads {field.source}, not a column") from None
        target = model_field.related_model
    return "__".join(field.source_attrs)


def _instance_step(field: serializers.Field, model: type[models.Model] | None) -> Callable:
    if isinstance(field, serializers.ListSerializer) and isinstance(field.child, serializers.Serializer):
        steps = RowPlan(type(field.child), fields=field.child.fields.values())._instance_steps()
        get = _attribute_getter(field, model) or field.get_attribute

        def nested_many(instance):
            items = get(instance)
            if items is None:
                return None
            if isinstance(items, BaseManager):
                items = items.all()
            return [_render(item, steps) for item in items]

        return nested_many
    get = _attribute_getter(field, model)
    if get is None or isinstance(field, serializers.BaseSerializer):
        return _field_step(field)
    return _converted(get, _converter(field))


def _attribute_getter(field: serializers.Field, model: type[models.Model] | None) -> Callable | None:
    """A plain attribute read for a source that is a model's field (a column or a relation), else None."""
    if model is None or len(field.source_attrs) != 1:
        return None
    try:
        model_field = model._meta.get_field(field.source_attrs[0])
    except FieldDoesNotExist:
        return None
    if isinstance(field, RelatedField):
        if not field.use_pk_only_optimization() or not model_field.concrete:
            return operator.attrgetter(model_field.name) if model_field.concrete else None
        return operator.attrgetter(model_field.attname)
    if model_field.is_relation and not model_field.concrete:
        # A reverse relation: a manager, or the list a prefetch left under the same name.
        return operator.attrgetter(model_field.get_accessor_name())
    return operator.attrgetter(model_field.attname) if not model_field.is_relation else None


def _field_step(field: serializers.Field) -> Callable:
    """What Serializer.to_representation does for one field."""

    def step(instance):
        try:
            attribute = field.get_attribute(instance)
        except SkipField:
            return _SKIP
        check = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
        return None if check is None else field.to_representation(attribute)

    return step


def plan_for(serializer_class: type[serializers.Serializer]) -> RowPlan:
    """The plan of a serializer class, compiled once per process."""
    plan = _PLANS.get(serializer_class)
    if plan is None:
        plan = _PLANS[serializer_class] = RowPlan(serializer_class)
    return plan


_PLANS: dict[type, RowPlan] = {}
