/* raylet_symbols.c -- libelf symbol matching for the lease probes
 * (raylet_symbols.h). Patterns were checked against the Ray 2.60.0 raylet
 * (Lease-era names) and the Ray 2.49.2 raylet (Task-era names), see
 * docs/raylet-symbols.md. */
#include "agent/raylet_symbols.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_ALTS 3
#define MAX_SUBS 3

/* All of prefix, subs[] and suffix must match; `exclude` must not appear. */
struct sym_pattern {
	const char *prefix;
	const char *subs[MAX_SUBS];
	const char *suffix;
	const char *exclude;
};

struct probe_def {
	const char *name;
	const char *prog;
	bool at_return;      /* uretprobe */
	struct sym_pattern alts[MAX_ALTS];
};

#define SERVER_CALL "_ZN3ray3rpc14ServerCallImpl"
#define LEASE_RPC "RequestWorkerLeaseRequest"
/* grpc::GenericSerialize<grpc::ProtoBufferWriter, ray::rpc::RequestWorkerLeaseReply>(
 * const MessageLite&, ByteBuffer*, bool*): gRPC's serializer of exactly this reply. */
#define REPLY_SERIALIZE "_ZN4grpc16GenericSerializeINS_17ProtoBufferWriterEN3ray3rpc23RequestWorkerLeaseReplyEEE"

static const struct probe_def probe_defs[RS_LP_COUNT] = {
	[RS_LP_REQUEST] = { "ServerCallImpl<RequestWorkerLease>::HandleRequest", "lease_request", false,
		{ { SERVER_CALL, { LEASE_RPC }, "13HandleRequestEv", NULL } } },
	[RS_LP_REPLY_SENT] = { "ServerCallImpl<RequestWorkerLease>::OnReplySent", "lease_reply", false,
		{ { SERVER_CALL, { LEASE_RPC }, "11OnReplySentEv", NULL } } },
	[RS_LP_REPLY_FAILED] = { "ServerCallImpl<RequestWorkerLease>::OnReplyFailed", "lease_reply_fail", false,
		{ { SERVER_CALL, { LEASE_RPC }, "13OnReplyFailedEv", NULL } } },
	[RS_LP_OUTCOME] = { "GenericSerialize<RequestWorkerLeaseReply>", "lease_outcome", false,
		{ { REPLY_SERIALIZE, { NULL }, NULL, NULL } } },
	[RS_LP_OUTCOME_RET] = { "GenericSerialize<RequestWorkerLeaseReply> (return)",
		"lease_outcome_ret", true, { { REPLY_SERIALIZE, { NULL }, NULL, NULL } } },
	[RS_LP_SCHEDULE] = { "ClusterLeaseManager::ScheduleOnNode", "lease_schedule", false,
		{ { "_ZN3ray6raylet19ClusterLeaseManager14ScheduleOnNodeE", { NULL }, NULL, NULL },
		  { "_ZN3ray6raylet18ClusterTaskManager14ScheduleOnNodeE", { NULL }, NULL, NULL } } },
	[RS_LP_LOCAL_QUEUE] = { "LocalLeaseManager::QueueAndScheduleLease", "lease_local_q", false,
		{ { "_ZN3ray6raylet17LocalLeaseManager21QueueAndScheduleLeaseE", { NULL }, NULL, NULL },
		  { "_ZN3ray6raylet16LocalTaskManager20QueueAndScheduleTaskE", { NULL }, NULL, NULL } } },
	[RS_LP_POP_WORKER] = { "WorkerPool::PopWorker(spec, callback)", "lease_pop", false,
		{ { "_ZN3ray6raylet10WorkerPool9PopWorkerERKNS_18LeaseSpecification", { NULL }, NULL, NULL },
		  { "_ZN3ray6raylet10WorkerPool9PopWorkerERKNS_17TaskSpecification", { NULL }, NULL, NULL } } },
	[RS_LP_POPPED] = { "LocalLeaseManager::PoppedWorkerHandler", "lease_popped", false,
		{ { "_ZN3ray6raylet17LocalLeaseManager19PoppedWorkerHandlerE", { NULL }, NULL, NULL },
		  { "_ZN3ray6raylet16LocalTaskManager19PoppedWorkerHandlerE", { NULL }, NULL, NULL } } },
	[RS_LP_GRANT] = { "LocalLeaseManager::Grant", "lease_grant", false,
		{ { "_ZN3ray6raylet17LocalLeaseManager5GrantE", { NULL }, NULL, NULL },
		  { "_ZN3ray6raylet16LocalTaskManager8DispatchE", { NULL }, NULL, NULL } } },
};

const char *rs_lease_probe_name(enum rs_lease_probe p)
{
	return p < RS_LP_COUNT ? probe_defs[p].name : "?";
}

const char *rs_lease_probe_prog(enum rs_lease_probe p)
{
	return p < RS_LP_COUNT ? probe_defs[p].prog : NULL;
}

bool rs_lease_probe_at_return(enum rs_lease_probe p)
{
	return p < RS_LP_COUNT && probe_defs[p].at_return;
}

void rs_lease_probe_list(unsigned int mask, char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (int p = 0; p < RS_LP_COUNT; p++) {
		int n;

		if (!(mask & (1u << p)))
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", probe_defs[p].name);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += n;
	}
}

static bool pattern_matches(const struct sym_pattern *pat, const char *name)
{
	size_t nlen = strlen(name);

	if (!pat->prefix || strncmp(name, pat->prefix, strlen(pat->prefix)))
		return false;
	for (int i = 0; i < MAX_SUBS && pat->subs[i]; i++)
		if (!strstr(name, pat->subs[i]))
			return false;
	if (pat->suffix) {
		size_t slen = strlen(pat->suffix);

		if (nlen < slen || strcmp(name + nlen - slen, pat->suffix))
			return false;
	}
	return !(pat->exclude && strstr(name, pat->exclude));
}

static bool probe_matches(int p, const char *name)
{
	for (int a = 0; a < MAX_ALTS; a++)
		if (pattern_matches(&probe_defs[p].alts[a], name))
			return true;
	return false;
}

/* Virtual address -> file offset through the executable PT_LOAD segment. */
static int vaddr_to_offset(Elf *elf, uint64_t vaddr, uint64_t *off)
{
	size_t n;

	if (elf_getphdrnum(elf, &n))
		return -ENOEXEC;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_memsz) {
			*off = vaddr - ph.p_vaddr + ph.p_offset;
			return 0;
		}
	}
	return -ENOENT;
}

/* Record name at vaddr for every still-unfound probe it matches (an entry
 * probe and its return probe share a symbol). */
static void record_matches(Elf *elf, const char *name, uint64_t vaddr, struct rs_lease_syms *out)
{
	uint64_t off;

	for (int p = 0; p < RS_LP_COUNT; p++) {
		if ((out->found & (1u << p)) || !probe_matches(p, name))
			continue;
		if (vaddr_to_offset(elf, vaddr, &off))
			return;
		out->found |= 1u << p;
		out->offset[p] = off;
		snprintf(out->name[p], sizeof(out->name[p]), "%s", name);
	}
}

static void scan_symtab(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, struct rs_lease_syms *out)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t count = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;

	for (size_t i = 0; data && i < count; i++) {
		GElf_Sym sym;
		const char *name;

		if (!gelf_getsym(data, i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    sym.st_shndx == SHN_UNDEF || sym.st_value == 0)
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		/* ray:: and grpc:: functions; no clones (.cold, .isra). */
		if (!name || (strncmp(name, "_ZN3ray", 7) && strncmp(name, "_ZN4grpc", 8)) ||
		    strchr(name, '.'))
			continue;
		record_matches(elf, name, sym.st_value, out);
	}
}

int rs_lease_syms_resolve(const char *path, struct rs_lease_syms *out)
{
	Elf_Scn *scn = NULL;
	bool any_symtab = false;
	Elf *elf;
	int fd;

	memset(out, 0, sizeof(*out));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		if (elf)
			elf_end(elf);
		close(fd);
		return -ENOEXEC;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		any_symtab = true;
		scan_symtab(elf, scn, &sh, out);
	}
	elf_end(elf);
	close(fd);
	return any_symtab ? 0 : -ENOEXEC;
}
