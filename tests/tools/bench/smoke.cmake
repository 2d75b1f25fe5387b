# The CTest smoke run of pvscsi_bench: a quick run of the mock sections, then a check that the
# JSON is well formed and has the expected sections. Figures are not checked.
file(REMOVE ${OUT})
execute_process(COMMAND ${BENCH} --quick --sections doorbells,memory,bounce,iops --json ${OUT}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pvscsi_bench failed (${rc}):\n${out}\n${err}")
endif()
execute_process(COMMAND ${PYTHON} -c "
import json, sys
d = json.load(open(sys.argv[1]))
need = ['doorbells', 'doorbell_ratios', 'memory', 'bounce', 'iops']
missing = [s for s in need if not d['sections'].get(s)]
assert not missing, 'missing sections: %s' % missing
assert d['targets'], 'no targets'
for t in d['targets']:
    assert set(t) >= {'name', 'value', 'limit', 'met'}, t
print('ok', len(d['targets']), 'targets')
" ${OUT} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bad JSON from pvscsi_bench:\n${out}\n${err}")
endif()
message(STATUS "${out}")
