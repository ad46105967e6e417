// courier/detail/journal.hpp — the durable log: a directory of append-only
// journal files (format: docs/log-format.md, constants: log_format.hpp).
//
//   journal_file.hpp    one file as the format defines it: its writer's id,
//                       name, header, record bytes and body decoders
//   journal_writer.hpp  JournalWriter: appends, one per process, no lock
//                       shared with anyone
//   journal_reader.hpp  JournalReader: reads a file or a directory back,
//                       checking every byte
//   journal_names.hpp   the names a file gives its ids, and those ids mapped
//                       to the ids of a bus now
//
// Nothing here knows shared memory; the bus's use of it (group commit, the
// sync policy, recovery, spill, compaction) is log.hpp's and src/'s.
#pragma once

#include "courier/detail/journal_file.hpp"
#include "courier/detail/journal_reader.hpp"
#include "courier/detail/journal_writer.hpp"
