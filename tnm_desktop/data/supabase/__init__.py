"""The Supabase adapter of the data port (see :mod:`.adapter`)."""

from tnm_desktop.data.supabase.adapter import AdapterFactory, LiveOptions, SupabaseAdapter

__all__ = ["AdapterFactory", "LiveOptions", "SupabaseAdapter"]
