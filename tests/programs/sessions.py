"""A program for the rewrite tests: per-session event logs joined with each session's owner,
per-user tag sets, and a chain of stateless operators.

events are ``(session, (seq, event))``, numbered per session by the sender; owners are
``(session, user)``; tags are lines ``"user:tag"``.
"""
import hydropy as hp


def no_events():
    return ()


def log_event(log, record):
    (_seq, event), user = record
    return log + (f"{user}:{event}",)


def split_tag(line):
    user, tag = line.split(":")
    return (user, tag)


def add_tag(tags, tag):
    return tags | {tag}


flow = hp.Flow("sessions")
events = flow.source("events")
owners = flow.source("owners")
events.join(owners, name="with_owner").fold_keyed(no_events, log_event, name="log").sink("logs")
lines = flow.source("tags")
pairs = (lines.map(lambda line: line.strip(), name="strip")
         .filter(lambda line: ":" in line, name="well_formed")
         .map(split_tag, name="split"))
pairs.fold_keyed(frozenset, add_tag, name="tags_per_user").sink("tags")
pairs.map(lambda ut: ut[1], name="tag_only").fold(set, lambda acc, t: acc | {t}, name="all_tags").sink("all_tags")
