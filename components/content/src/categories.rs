//! Categories: a tree (each has at most one parent, and no cycles) with
//! unique slugs.

use folio_guest::http::Problem;
use folio_guest::util::{new_id, now_rfc3339};
use folio_guest::{Connection, SqlError, Value};
use serde::Serialize;

use crate::store::{db_error, optional_text, text};

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    pub id: String,
    pub name: String,
    pub description: String,
    pub parent_id: Option<String>,
    pub slug: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A category with its descendants, for the tree listing.
#[derive(Serialize)]
pub struct Node {
    #[serde(flatten)]
    pub category: Category,
    pub children: Vec<Node>,
}

const COLUMNS: &str = "id, name, description, parent_id, slug, created_at, updated_at";

fn from_row(r: &[Value]) -> Category {
    Category {
        id: text(&r[0]),
        name: text(&r[1]),
        description: text(&r[2]),
        parent_id: optional_text(&r[3]),
        slug: text(&r[4]),
        created_at: text(&r[5]),
        updated_at: text(&r[6]),
    }
}

pub fn all(db: &Connection) -> Result<Vec<Category>, Problem> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM categories ORDER BY name, id"),
            &[],
        )
        .map_err(db_error)?;
    Ok(rows.rows.iter().map(|r| from_row(r)).collect())
}

pub fn find(db: &Connection, column: &str, value: &str) -> Result<Option<Category>, Problem> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM categories WHERE {column} = $1"),
            &[Value::Text(value.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| from_row(r)))
}

pub fn tree(categories: Vec<Category>) -> Vec<Node> {
    fn children_of(parent: Option<&str>, all: &[Category]) -> Vec<Node> {
        all.iter()
            .filter(|c| c.parent_id.as_deref() == parent)
            .map(|c| Node {
                category: c.clone(),
                children: children_of(Some(&c.id), all),
            })
            .collect()
    }
    children_of(None, &categories)
}

/// The ids that still name a category (a restored revision may name deleted ones).
pub fn existing(db: &Connection, ids: &[String]) -> Result<Vec<String>, Problem> {
    let missing = missing(db, ids)?;
    Ok(ids
        .iter()
        .filter(|id| !missing.contains(id))
        .cloned()
        .collect())
}

/// The ids that do not name a category.
pub fn missing(db: &Connection, ids: &[String]) -> Result<Vec<String>, Problem> {
    let mut missing = Vec::new();
    for id in ids {
        if find(db, "id", id)?.is_none() {
            missing.push(id.clone());
        }
    }
    Ok(missing)
}

pub struct Fields {
    pub name: String,
    pub description: String,
    pub parent_id: Option<String>,
    pub slug: String,
}

/// 422 when the parent does not exist or is the category itself or one of its descendants.
fn check_parent(db: &Connection, id: &str, parent: Option<&str>) -> Result<(), Problem> {
    let mut current = parent.map(str::to_string);
    let mut steps = 0;
    while let Some(p) = current {
        if p == id {
            return Err(Problem::invalid_field(
                "parentId",
                "would make the category its own ancestor",
            ));
        }
        let Some(category) = find(db, "id", &p)? else {
            return Err(Problem::invalid_field("parentId", "names no category"));
        };
        current = category.parent_id;
        steps += 1;
        if steps > 64 {
            return Err(Problem::invalid_field("parentId", "the tree is too deep"));
        }
    }
    Ok(())
}

fn slug_taken(e: SqlError) -> Problem {
    match e {
        SqlError::ConstraintViolation(_) => Problem::conflict("another category has this slug"),
        other => db_error(other),
    }
}

pub fn create(db: &Connection, fields: Fields) -> Result<Category, Problem> {
    let now = now_rfc3339();
    let category = Category {
        id: new_id(),
        name: fields.name,
        description: fields.description,
        parent_id: fields.parent_id,
        slug: fields.slug,
        created_at: now.clone(),
        updated_at: now,
    };
    check_parent(db, &category.id, category.parent_id.as_deref())?;
    db.execute(
        &format!("INSERT INTO categories ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
        &values(&category),
    )
    .map_err(slug_taken)?;
    Ok(category)
}

pub fn update(db: &Connection, old: &Category, fields: Fields) -> Result<Category, Problem> {
    check_parent(db, &old.id, fields.parent_id.as_deref())?;
    let category = Category {
        name: fields.name,
        description: fields.description,
        parent_id: fields.parent_id,
        slug: fields.slug,
        updated_at: now_rfc3339(),
        ..old.clone()
    };
    db.execute(
        "UPDATE categories SET name = $2, description = $3, parent_id = $4, slug = $5, \
         created_at = $6, updated_at = $7 WHERE id = $1",
        &values(&category),
    )
    .map_err(slug_taken)?;
    Ok(category)
}

fn values(c: &Category) -> Vec<Value> {
    vec![
        Value::Text(c.id.clone()),
        Value::Text(c.name.clone()),
        Value::Text(c.description.clone()),
        c.parent_id.clone().map(Value::Text).unwrap_or(Value::Null),
        Value::Text(c.slug.clone()),
        Value::Timestamp(c.created_at.clone()),
        Value::Timestamp(c.updated_at.clone()),
    ]
}

/// 409 while the category has children or content.
pub fn delete(db: &Connection, id: &str) -> Result<(), Problem> {
    let in_use = db
        .query(
            "SELECT 1 FROM categories WHERE parent_id = $1 \
             UNION ALL SELECT 1 FROM content_categories WHERE category_id = $1 LIMIT 1",
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    if !in_use.rows.is_empty() {
        return Err(Problem::conflict(
            "the category still has subcategories or content",
        ));
    }
    db.execute(
        "DELETE FROM categories WHERE id = $1",
        &[Value::Text(id.to_string())],
    )
    .map_err(db_error)?;
    Ok(())
}
