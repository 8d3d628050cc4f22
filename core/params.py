"""Query-parameter fields whose 400s say what was wrong and what is allowed."""

from rest_framework import serializers


class ChoiceParam(serializers.ChoiceField):
    """A choice whose error lists the choices: "Unknown status 'x'; use one of: queued, running."."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if data == "" and self.allow_blank:
            return ""
        if str(data) not in self.choice_strings_to_values:
            allowed = ", ".join(self.choice_strings_to_values)
            raise serializers.ValidationError(f"Unknown {self.field_name} {str(data)!r}; use one of: {allowed}.")
        return self.choice_strings_to_values[str(data)]
