// ResultRecord: what sinks write, one per accepted frame (the public FrameResult).
#pragma once

#include "sluice/frame_result.h"

namespace sluice::sink {

using ResultRecord = FrameResult;
using LabeledPrediction = Prediction;

}  // namespace sluice::sink
