// SPDX-License-Identifier: MIT
// Embedding points in 2-D: exact kNN, UMAP's fuzzy simplicial set, its spectral layout, PCA,
// UMAP itself and the trustworthiness score that measures it (the results' `points` field).
#pragma once

#include "salun/embed/fuzzy_simplicial_set.hpp"
#include "salun/embed/knn.hpp"
#include "salun/embed/pca.hpp"
#include "salun/embed/spectral.hpp"
#include "salun/embed/trustworthiness.hpp"
#include "salun/embed/umap.hpp"
